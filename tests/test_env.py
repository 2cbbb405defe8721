"""The environment (issue 22 part 5): `shoal run -E/--env NAME=VALUE`, Chip.spawn(env=...),
`shoal mpirun` passing it to every rank; empty by default. tests/programs/env.c against the
host build given the same environment."""

from __future__ import annotations

import pytest
from conftest import Programs, assert_one_line_error, run_native, shoal_cli

from shoal import Chip
from shoal.errors import ShoalError

ENV = ["GREETING=hello world", "EMPTY=", "EQ=a=b", "PATH=/bin"]


def test_spawn_gives_the_environment_in_order(programs: Programs) -> None:
    b = programs["env"]
    argv = [str(b.native)]
    c = Chip.preset("tiny")
    c.add_file(b.native.name, b.elf.read_bytes())
    p = c.spawn(b.elf, argv, env=ENV)
    c.run()
    native = run_native(b, argv, env=dict(e.split("=", 1) for e in ENV))
    assert p.stdout == native.stdout, p.message
    assert b"env[1] = EMPTY=\n" in p.stdout and b"GREETING: hello world\n" in p.stdout


def test_the_default_environment_is_empty(programs: Programs) -> None:
    b = programs["env"]
    argv = [str(b.native), "child"]
    c = Chip.preset("tiny")
    p = c.spawn(b.elf, argv)
    c.run()
    assert p.stdout == run_native(b, argv).stdout == b"0 entries\nGREETING: (unset)\n"


def test_run_takes_E_and_env(programs: Programs) -> None:
    b = programs["env"]
    res = shoal_cli("run", "--chip", "tiny", "-E", "GREETING=hi", "--env", "X=1", str(b.elf), "child")
    assert res.stdout == b"env[0] = GREETING=hi\nenv[1] = X=1\n2 entries\nGREETING: hi\n", res.stderr
    for bad in ("NOEQUALS", "=value"):
        assert "NAME=VALUE" in assert_one_line_error(shoal_cli("run", "--chip", "tiny", "-E", bad,
                                                               str(b.elf), "child"))


def test_mpirun_gives_it_to_every_rank(programs: Programs) -> None:
    b = programs["env"]
    c = Chip.preset("tiny")
    ranks = c.mpirun(b.elf, 2, ["env", "child"], env=["GREETING=rank", "SHOAL_MPI_RANK=99"])
    c.run()
    for p in ranks:
        assert p.stdout == b"env[0] = GREETING=rank\n4 entries\nGREETING: rank\n", p.message
    res = shoal_cli("mpirun", "-n", "2", "--chip", "tiny", "-E", "GREETING=cli", str(b.elf), "child")
    assert res.stdout.count(b"GREETING: cli\n") == 2, res.stderr


def test_bad_entries_are_refused() -> None:
    c = Chip.preset("tiny")
    for bad in (["A\0B=1"], ["novalue"], [3]):
        with pytest.raises(ShoalError, match="bad environment entry"):
            c.spawn(b"", ["x"], env=bad)  # type: ignore[list-item]
