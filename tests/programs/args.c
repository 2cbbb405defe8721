/* Echo argv and the environment; exit with atoi(argv[1]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("argc %d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d] (%zu) [%s]\n", i, strlen(argv[i]), argv[i]);
    if (argv[argc] != NULL)
        printf("argv[argc] is not NULL\n");
    int n = 0;
    for (char **e = environ; *e; e++, n++)
        printf("env[%d] [%s]\n", n, *e);
    const char *v = getenv("SHOAL_TEST");
    printf("getenv SHOAL_TEST [%s]\n", v ? v : "(unset)");
    return argc > 1 ? atoi(argv[1]) : 0;
}
