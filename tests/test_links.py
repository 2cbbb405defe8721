"""Hard and symbolic links, statfs and fallocate (issue 22, part 5). tests/programs/links.c,
run on the chip (in /tmp) and natively (host gcc, in a temporary directory) with the same
sections, prints the same bytes; the chip's own figures (statfs's values, the file server's
limits) are checked against its ChipSpec; `--fs`/`--fs-out` carry links inside the tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Programs, assert_one_line_error, assert_same, run_native, run_shoal, shoal_cli

from shoal import Chip
from shoal.abi import LINK_MAX
from shoal.spec import ChipSpec


@pytest.mark.parametrize("section", ["hard", "sym", "statfs", "falloc"])
def test_links_statfs_fallocate_as_native(programs: Programs, tmp_path: Path, section: str) -> None:
    b = programs["links"]
    p, _ = run_shoal(b, ["links", "/tmp", section])
    assert_same(p, run_native(b, ["links", str(tmp_path), section]))
    assert not p.record.unknown_syscalls, p.record.unknown_syscalls


def test_statfs_gives_the_file_servers_limits(programs: Programs) -> None:
    b = programs["links"]
    p, c = run_shoal(b, ["links", "/tmp", "values"])
    sp = c.spec
    blocks = sp.limits.fs_total_bytes // 4096
    used = 0  # nothing written before the first statfs (the made /tmp is not counted)
    assert p.stdout.decode().splitlines() == [
        f"type 1021994 bsize 4096 frsize 4096 blocks {blocks} bfree {blocks - used} bavail {blocks - used} "
        f"files {sp.limits.fs_max_files} ffree {sp.limits.fs_max_files} namelen 255",
        # 8192 bytes: two blocks; the file and its second name: two nodes (tmpfs counts names)
        f"after 0: bfree {blocks - 2} ffree {sp.limits.fs_max_files - 2}",
    ]


def test_fallocate_and_link_limits(programs: Programs) -> None:
    """EFBIG past fs_max_file_bytes, ENOSPC past fs_total_bytes, EOPNOTSUPP (refused, counted)
    for a mode shoal does not serve, EMLINK at LINK_MAX names, linkat(AT_EMPTY_PATH)."""
    b = programs["links"]
    spec = ChipSpec.from_dict({"base": "tiny", "fs_max_file_bytes": 40000, "fs_total_bytes": 60000}, "test")
    c = Chip(spec)
    p = c.spawn(b.elf, ["links", "/tmp", "limits", "40000"])
    c.run()
    assert p.returncode == 0, p.message
    assert p.stdout.decode().splitlines() == [
        "past fs_max_file_bytes (EFBIG) -1 27",
        "up to fs_max_file_bytes 0 0",
        "keep size past it (EFBIG) -1 27",
        "past fs_total_bytes (ENOSPC) -1 28",
        "zero range (EOPNOTSUPP) -1 95",
        f"links made {LINK_MAX - 1} then errno 31",
        "linkat AT_EMPTY_PATH 0 0",
        "linkat AT_EMPTY_PATH unlinked (ENOENT) -1 2",
    ]
    assert p.record.unknown_syscalls.get(47) == 1  # the refused mode, in --stats


def test_links_cost_nodes_so_a_guest_cannot_grow_the_host(programs: Programs) -> None:
    """Each name counts against fs_max_files (ENOSPC), so names and memory stay bounded."""
    b = programs["links"]
    spec = ChipSpec.from_dict({"base": "tiny", "fs_max_files": 20}, "test")
    c = Chip(spec)
    p = c.spawn(b.elf, ["links", "/tmp", "limits", "100"])
    c.run()
    assert p.returncode == 0, p.message



def _tree(root: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes()
    return out


RW = r'''#include <stdio.h>
#include <unistd.h>
int main(void) {
    char buf[64] = {0};
    long n = readlink("/d/rel", buf, sizeof buf);
    printf("rel %ld %s\n", n, buf);
    FILE *f = fopen("/d/rel", "r");
    n = f ? (long)fread(buf, 1, sizeof buf - 1, f) : -1;
    if (f) fclose(f);
    buf[n > 0 ? n : 0] = 0;
    printf("through it %s\n", buf);
    f = fopen("/d/sub/in_dirlink/x", "r");
    printf("dir link %d\n", f != NULL);
    if (f) fclose(f);
    symlink("../top.txt", "/d/made");
    symlink("/top.txt", "/d/made_abs");
    symlink("../../../etc/passwd", "/d/escape");
    link("/top.txt", "/hard.txt");
    return 0;
}
'''


def test_fs_round_trip_carries_links_inside_the_tree(tmp_path: Path) -> None:
    from shoal.toolchain import compile_cached
    src = tmp_path / "rw.c"
    src.write_text(RW)
    elf = compile_cached([src])
    tree = tmp_path / "tree"
    (tree / "d" / "sub").mkdir(parents=True)
    (tree / "top.txt").write_bytes(b"top\n")
    (tree / "d" / "sub" / "x").write_bytes(b"x")
    os.symlink("../top.txt", tree / "d" / "rel")
    os.symlink(".", tree / "d" / "sub" / "in_dirlink")
    out = tmp_path / "out"
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tree), "--fs-out", str(out), str(elf))
    # the guest's link that leads out of the tree is not written (one line says so)
    assert res.returncode != 0
    err = res.stderr.decode()
    assert "d/escape" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert res.stdout == b"rel 10 ../top.txt\nthrough it top\n\ndir link 1\n"
    got = _tree(out)
    assert got["d/rel"] == ("link", "../top.txt")
    assert got["d/sub/in_dirlink"] == ("link", ".")
    assert got["d/made"] == ("link", "../top.txt")
    assert got["d/made_abs"] == ("link", "../top.txt")  # absolute in the guest: made relative
    assert "d/escape" not in got
    assert got["hard.txt"] == b"top\n"  # a second name comes home as a copy


@pytest.mark.parametrize("target", ["../../outside", "/etc/passwd", "x/../../..", "../a/../.."])
def test_fs_refuses_host_links_that_lead_outside(tmp_path: Path, target: str) -> None:
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    os.symlink(target, tree / "a" / "bad")
    from shoal.toolchain import compile_cached
    src = tmp_path / "n.c"
    src.write_text("int main(void) { return 0; }\n")
    res = shoal_cli("run", "--chip", "tiny", "--fs", str(tree), str(compile_cached([src])))
    assert "a/bad" in assert_one_line_error(res)


def test_bytes_not_utf8_in_a_link_target_and_a_memfd_name(programs: Programs, tmp_path: Path) -> None:
    """A link target is bytes: one that is not UTF-8 went into a packet and raised
    UnicodeEncodeError on the host (a traceback from a guest's call); readlink gives the
    bytes back as Linux does. A memfd name that is not UTF-8 did the same."""
    b = programs["link_bytes"]
    p, _ = run_shoal(b, ["link_bytes", "/tmp"])
    assert p.returncode == 0, p.message
    assert p.stdout == run_native(b, ["link_bytes", str(tmp_path)]).stdout
    assert b"readlink 5: 62 61 64 ff fe\n" in p.stdout
