"""Guest MPI beyond the basics, as public MPI programs (the OSU micro-benchmarks) use it:
nonblocking collectives, MPI_Alltoallw, Cartesian topologies, indexed datatypes and type
names, and the one-sided calls that fail cleanly. The reference for each output is the same C
built with the host's mpicc and run with mpiexec (see test_guest_mpi.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_no_frame_leak
from test_guest_mpi import mpirun, native, stdout


@pytest.mark.parametrize("n,ppc", [(2, 1), (4, 1), (5, 2)])
def test_nonblocking_collectives_match_blocking(n: int, ppc: int, tmp_path: Path) -> None:
    """Each nonblocking collective gives its blocking twin's bits; two in flight on one
    communicator around a blocking one; Testall polling; Waitall over collective and
    point-to-point requests; a barrier that would deadlock if it blocked at its start."""
    c, ranks, end = mpirun("mpi_nbc", n, ppc=ppc)
    out = stdout(ranks)
    assert end.failed is None, end.line(ranks)
    assert out.startswith(b"ibarrier after a send: token 42\ntwo ibcasts around an allreduce: ok\n")
    assert b"DIFFERS" not in out and b"request null after wait: 1\n" in out
    assert out.endswith(b"bad root: class root 1 1; null communicator: class comm 1\nerrors 0\n")
    assert out.count(b"same as blocking") == 15
    # MPI_Probe moves collectives on too (rank 2 relays the broadcast rank 3's message needs).
    assert (b"probe while relaying a broadcast: 77\n" in out) == (n >= 4)
    if n == 4:  # sum over ranks of 10 r + i; the 2x2 products m0 m1 m2 m3 in rank order
        assert b"ireduce int sum at last      60 64 68\n" in out
        assert b"  product m0 m1 ... m(n-1)   11 17 5 8\n" in out
    ref = native("mpi_nbc", n, [], tmp_path)
    if ref is not None:
        assert out == ref
    assert_no_frame_leak(c)


def test_nonblocking_collectives_deterministic() -> None:
    runs = [mpirun("mpi_nbc", 3) for _ in range(2)]
    assert stdout(runs[0][1]) == stdout(runs[1][1])
    assert [r.cycles for r in runs[0][1]] == [r.cycles for r in runs[1][1]]


@pytest.mark.parametrize("n", [2, 5])
def test_cartesian_topology_indexed_types_and_names(n: int, tmp_path: Path) -> None:
    c, ranks, end = mpirun("mpi_topo", n)
    out = stdout(ranks)
    assert end.failed is None, end.line(ranks)
    # MPICH's answers (checked against the mpich wheel): balanced, non-increasing.
    assert (b"dims_create(6, 2): 3 2\ndims_create(12, 2): 4 3\ndims_create(16, 3): 4 2 2\n"
            b"dims_create(7, 2): 7 1\ndims_create(6, 3): 2 3 1\ndims_create(5, 1): 5\n"
            b"dims_create(8, 3): 2 2 2\n") in out
    assert b"wrong membership" not in out and b" ok 0;" not in out
    assert b"world: topo undefined 1, cart_coords class topology 1\n" in out
    assert b"grid larger than the communicator: error 1\n" in out
    assert b"indexed: size 24 lb 4 extent 40\n" in out
    assert b"indexed x2 from rank 1 (12 ints): 101 102 105 108 109 110 111 112 115 118 119 120\n" in out
    assert (b"names: MPI_CHAR(8) MPI_INT(7) MPI_DOUBLE(10) MPI_UNSIGNED_LONG(17) MPI_FLOAT(9) MPI_BYTE(8) "
            b"MPI_2INT(8) derived ''(0) then 'pairs'(5)\n") in out
    if n == 5:  # a 2 x 2 grid: rank 4 is outside it; dimension 0 wraps, dimension 1 does not
        assert b"cart rank 1 at (0,1) ok 1; dim0 from 3 to 3; dim1 from 0 to -1\n" in out
    ref = native("mpi_topo", n, [], tmp_path)
    if ref is not None:
        assert out == ref


def test_windows_fail_with_a_class_then_one_line() -> None:
    """No one-sided communication: MPI_Win_create returns MPI_ERR_UNSUPPORTED_OPERATION under
    MPI_ERRORS_RETURN, and under MPI_ERRORS_ARE_FATAL the rank ends with one line (MPICH would
    create the window, so there is no native reference)."""
    c, ranks, end = mpirun("mpi_topo", 2, ["win"])
    assert ranks[0].stdout == b"win_create: class MPI_ERR_UNSUPPORTED_OPERATION, window null 1\n"
    assert end.failed is not None and end.status(ranks) == 52
    failed = ranks[end.failed]
    assert failed.stderr == (b"Fatal error in MPI_Win_allocate: Unsupported operation, one-sided "
                             b"communication (windows) is not provided\n")
    assert b"not reached" not in stdout(ranks)


@pytest.mark.parametrize("n", [1, 4])
def test_groups_and_comm_create(n: int, tmp_path: Path) -> None:
    """MPI_Comm_group then MPI_Group_rank (how Nanvix's MPI ports of the CAP Bench kernels
    find their rank), incl/excl/translate/compare, MPI_Comm_create, a bad rank's class."""
    c, ranks, end = mpirun("mpi_group", n)
    out = stdout(ranks)
    assert end.failed is None, end.line(ranks)
    assert out.startswith(b"world group: rank and size as the communicator's: 1\n")
    assert b"wrong membership" not in out and b"reversed communicator rank" not in out
    assert out.endswith(f"incl of rank {n}: class rank 1\nfreed: null 1\n".encode())
    if n == 4:
        assert b"world ranks in evens: 0 -32766 1 -32766\n" in out  # MPI_UNDEFINED for the odd ones
        assert b"compare: reversed similar, itself ident, evens/odds unequal\n" in out
        assert b"even communicator: size 2, my rank 0, sum of world ranks 2\n" in out
    ref = native("mpi_group", n, [], tmp_path)
    if ref is not None:
        assert out == ref


@pytest.mark.parametrize("n,env", [(2, None), (3, None), (3, ["SHOAL_MPI_PEER_FDS=2"])])
def test_thread_multiple(n: int, env: list[str] | None, tmp_path: Path) -> None:
    """MPI_THREAD_MULTIPLE (osu_latency_mt asks for it): four threads of rank 0 ping-pong at
    once with the other ranks, eager and rendezvous, and make datatypes at once; with room for
    2 descriptors, a thread's eviction never closes one another thread is writing on."""
    c, ranks, end = mpirun("mpi_multiple", n, env=env)
    out = stdout(ranks)
    assert end.failed is None, end.line(ranks)
    assert out == f"provided multiple 1; 4 threads x 6 round trips to {n - 1} peers: errors 0\n".encode()
    ref = native("mpi_multiple", n, [], tmp_path)
    if ref is not None:
        assert out == ref


def test_messages_larger_than_a_cluster(tmp_path: Path) -> None:
    """3 MiB messages on mppa256 (a compute cluster holds ~1.8 MiB: the buffers page to the I/O
    cluster). One 2 MiB portal transfer never ended (its pages evicted each other); the
    library sends pieces of at most 1 MiB, and a portal read faults its pages in first."""
    c, ranks, end = mpirun("mpi_big", 2, chip="mppa256")
    out = stdout(ranks)
    assert end.failed is None, end.line(ranks)
    assert out == (b"exchange: 3145733 bytes each way, 0 wrong\n"
                   b"truncated: class truncate 1, count 1572864, 0 wrong\n")
    ref = native("mpi_big", 2, [], tmp_path)
    if ref is not None:
        assert out == ref
