/* Permission checks for a user that is not root (issue 22): opening by the mode's bits,
 * making and removing names by the directory's, the sticky rule, chmod by the owner only, new
 * files owned by their maker. usage: perms DIR drop (root gives up root for uid/gid 1000
 * first, in DIR) | perms DIR (already another user: --user / Chip.spawn(user=)) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void say(const char *what, int r) {
    printf("%s %d\n", what, r < 0 ? -errno : 0);
    if (r >= 0 && !strncmp(what, "open", 4)) close(r);
}

static void mk(const char *name, int mode) {
    close(open(name, O_CREAT | O_WRONLY, mode));
    chmod(name, mode);
}

int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1])) return 2;
    if (argc > 2) {  /* as root: the files, then give up root */
        chmod(".", 0777);
        mkdir("d", 0755);
        mk("pub", 0666);
        mk("priv", 0600);
        mk("ro", 0444);
        mkdir("sticky", 0777);
        chmod("sticky", 01777);
        mk("sticky/rootfile", 0666);
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) return 3;
    }
    printf("uid %d gid %d\n", getuid(), getgid());
    say("open priv r", open("priv", O_RDONLY));
    say("open pub rw", open("pub", O_RDWR));
    say("open ro w", open("ro", O_WRONLY));
    say("open ro r trunc", open("ro", O_RDONLY | O_TRUNC));
    say("open ro r", open("ro", O_RDONLY));
    say("create in root's dir", open("d/new", O_CREAT | O_WRONLY, 0644));
    say("mkdir in root's dir", mkdir("d/x", 0755));
    say("create mine", open("mine", O_CREAT | O_WRONLY, 0640));
    struct stat st;
    stat("mine", &st);
    printf("mine owner %u group %u mode %o\n", st.st_uid, st.st_gid, st.st_mode & 07777);
    say("unlink root's in sticky", unlink("sticky/rootfile"));
    say("rename root's in sticky", rename("sticky/rootfile", "sticky/moved"));
    say("create in sticky", open("sticky/me", O_CREAT | O_WRONLY, 0600));
    say("unlink mine in sticky", unlink("sticky/me"));
    say("chmod root's", chmod("pub", 0600));
    say("chmod mine", chmod("mine", 0600));
    say("rename mine", rename("mine", "mine2"));
    say("unlink root's in open dir", unlink("pub"));
    say("rmdir root's empty dir", rmdir("d"));
    say("unlink mine", unlink("mine2"));
    return 0;
}
