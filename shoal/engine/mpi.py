"""The MPI backend: one chip's compute clusters spread over MPI ranks, results unchanged.

Rank 0 keeps the host side (Chip, the CLI), the I/O cluster's daemons, the NoC model and a
first block of clusters; every other rank keeps a contiguous block of cluster numbers (rows
of the torus, so that most traffic between neighbours stays inside a rank) and serves rank
0's messages (`serve`). Rounds are LocalBackend's, step for step (engine/local.py), so every node
takes the same items in the same order and results are byte for byte the same:

    rank 0 submits the nodes' packets to the NoC in node order, places the chunks ready
    before GVT and delivers finished packets (numbered in the order the NoC finished them,
    as LocalBackend does); then it sends each rank that has work the packets delivered to
    its nodes and its nodes' horizons (one message), advances its own nodes meanwhile, and
    takes back from each such rank its nodes' earliest times and the packets they sent (one
    message).

So a round costs one scatter and one gather, point to point and only with the ranks that have
something to do (an idle rank costs nothing); the host's requests (`call`, `gather`) go to the
rank that owns the cluster. What crosses ranks is plain data (packets, records, images) and is
pickled; closures in kernel actions stay on their rank.

Ranks are started by `shoal run --ranks N` / `shoal demo --ranks N` (`launch`: the mpich
wheel's mpiexec on this host) or by the user's own `mpiexec -n N python -m shoal run --backend
mpi ...`. Receives poll with a back-off (an idle rank does not spin a host core away from the
others); rank 0 gives up on an answer after SHOAL_MPI_TIMEOUT seconds (default 600); a rank
that dies makes mpiexec end the others, and the launcher prints one line.

The rank-0 side and the serving side of the protocol are kept together here, so that each
message's two ends read side by side; starting ranks on this host is engine/launch.py.
"""

from __future__ import annotations

import atexit
import itertools
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

from shoal.daemons.console import ConsoleSink
from shoal.daemons.node import IoNode
from shoal.engine.launch import launch, mpiexec
from shoal.engine.rounds import NEVER, Requests, next_round, reached, tid_allocator
from shoal.errors import ShoalError
from shoal.kernel import host
from shoal.kernel.kernel import Kernel
from shoal.kernel.table import new_kernel
from shoal.messages import Kind, NocError
from shoal.platform.noc import NoC, Packet
from shoal.spec import ChipSpec

__all__ = ["MPIBackend", "join", "launch", "mpi", "mpiexec", "rank_role", "report_status", "serve"]


def mpi() -> Any:
    """mpi4py's MPI module, or one clear refusal."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise ShoalError("the MPI backend needs mpi4py and an MPI: pip install 'shoal[mpi]'") from None
    return MPI


def blocks(clusters: int, ranks: int) -> list[int]:
    """The rank of each cluster: contiguous blocks of cluster numbers, as even as can be."""
    return [r for r in range(ranks) for _ in range(r * clusters // ranks, (r + 1) * clusters // ranks)]


def _timeout() -> float:
    try:
        return float(os.environ.get("SHOAL_MPI_TIMEOUT", "600"))
    except ValueError:
        return 600.0


def _recv(comm: Any, source: int, bounded: bool = True) -> Any:
    """A message from `source`: a short spin, then yields of the host core for 5 ms, then
    sleeps (a blocked MPI receive would spin a core that another rank may need: on 2 shared
    cores a pure spin made a chatty run 1.6x slower), at most SHOAL_MPI_TIMEOUT s if `bounded`
    (rank 0 waiting for an answer; the others wait for rank 0 as long as it lives: the host
    may pause between requests, and mpiexec ends them if rank 0 dies)."""
    spins = 0
    start = deadline = 0.0
    while not comm.iprobe(source=source):
        spins += 1
        if spins < 100:
            continue
        now = time.monotonic()
        if spins == 100:
            start, deadline = now, now + _timeout()
        elif bounded and now > deadline:
            _lost.append(source)
            raise ShoalError(f"MPI rank {source} did not answer within {_timeout():g} s; the run stops")
        if now - start < 0.005:
            os.sched_yield()  # an answer usually comes within a round's work: stay close
        else:
            time.sleep(0.0005 if now - start < 0.1 else 0.002)
    return comm.recv(source=source)


_lost: list[int] = []  # ranks that did not answer in time: the run ends with MPI's abort
_chips = itertools.count(1)
_dropped: list[int] = []  # chips gone on rank 0, to forget on the other ranks (with their next message)
_told: dict[int, int] = {}  # how many of them each rank has been told of
_open: list[Any] = []  # the communicator, once a chip has used it (to stop the ranks at exit)


def _stop_ranks() -> None:
    if not _open:
        return
    comm = _open.pop()
    for r in range(1, comm.Get_size()):
        try:
            comm.send((0, "quit", [], [], None), dest=r)
        except Exception:  # noqa: BLE001 -- at exit, a rank that is gone is gone
            pass


def _drops(rank: int) -> list[int]:
    """The chips `rank` has not yet been told are gone."""
    told = _told.get(rank, 0)
    _told[rank] = len(_dropped)
    return _dropped[told:]


def _stop_at_exit(comm: Any) -> None:
    """Rank 0 tells the others to end when it ends, however it ends (a refusal too)."""
    if not _open:
        _open.append(comm)
        atexit.register(_stop_ranks)


class MPIBackend(Requests):
    """LocalBackend's interface and rounds, with the compute clusters spread over ranks."""

    tracer = None

    def __init__(self, spec: ChipSpec, seed: int, sink: ConsoleSink | None) -> None:
        comm = mpi().COMM_WORLD
        self.comm, self.size = comm, comm.Get_size()
        if comm.Get_rank() != 0:
            raise ShoalError("a chip on the MPI backend is made on rank 0 (the others serve it)")
        n = spec.compute_clusters
        if self.size > n:
            raise ShoalError(f"{self.size} MPI ranks for {n} compute clusters: at most one rank per cluster")
        self.spec = spec
        self.n = n
        self.owner = [*blocks(n, self.size), 0]  # node n: the I/O cluster's daemons, on rank 0
        self._noc = NoC(spec)
        self.lookahead = la = self._noc.min_latency()
        self.io = IoNode(spec, n, seed, sink)
        self.mine: dict[int, Kernel | IoNode] = {
            c: new_kernel(spec, c, tid_allocator(c)) for c in range(n) if self.owner[c] == 0}
        self.kernels = [k for k in self.mine.values() if isinstance(k, Kernel)]  # rank 0's only
        self.mine[n] = self.io
        for node in self.mine.values():
            node.lookahead = la
        self.cid = next(_chips)
        self.outboxes: dict[int, list[Packet]] = {}  # other ranks' packets not yet submitted
        self.inboxes: dict[int, list[tuple[int, Packet]]] = {r: [] for r in range(self.size)}
        self._seq = 0
        self.rounds = 0
        self.wait_seconds = 0.0  # host time rank 0 waited for the others' answers in rounds
        _stop_at_exit(comm)
        for r in range(1, self.size):
            comm.send((self.cid, "init", [], _drops(r), (spec, seed, self._clusters(r), la)), dest=r)
        weakref.finalize(self, _dropped.append, self.cid)

    def _clusters(self, rank: int) -> list[int]:
        return [c for c in range(self.n) if self.owner[c] == rank]

    # messages to the other ranks --------------------------------------------------------------
    def _post(self, rank: int, op: str, args: Any) -> None:
        deliveries, self.inboxes[rank] = self.inboxes[rank], []
        self.comm.send((self.cid, op, deliveries, _drops(rank), args), dest=rank)

    def _answer(self, rank: int) -> Any:
        status, value = _recv(self.comm, rank)
        if status == "err":
            raise value
        return value

    def _ask(self, rank: int, op: str, args: Any) -> Any:
        self._post(rank, op, args)
        return self._answer(rank)

    # the host's requests -----------------------------------------------------------------
    def call(self, cluster: int, request: str, *args: Any) -> Any:
        r = self.owner[cluster]
        if r == 0:
            self._flush_local()
            return getattr(host, request)(self.mine[cluster], *args)
        return self._ask(r, "call", (cluster, request, args))

    def gather(self, request: str, *args: Any) -> list[Any]:
        """The same request to every compute cluster, answers in cluster order (the ranks'
        blocks are contiguous, so rank order is cluster order)."""
        for r in range(1, self.size):
            self._post(r, "gather", (request, args))
        self._flush_local()
        out = [getattr(host, request)(self.mine[c], *args) for c in self._clusters(0)]
        for r in range(1, self.size):
            out += self._answer(r)
        return out


    def _flush_local(self) -> None:
        for t, p in self.inboxes[0]:
            self.mine[t].deliver(p)
        self.inboxes[0] = []

    # one clock (LocalBackend.advance, with nodes on ranks) ----------------------------------------
    def advance(self, limit: int, until: Callable[[], bool] | None = None) -> None:
        la = self.lookahead
        noc = self._noc
        window = self.spec.engine.window_cycles
        owner, mine = self.owner, self.mine
        nnodes = self.n + 1
        self._flush_local()
        lbs = [NEVER] * nnodes
        for r in range(1, self.size):
            self._post(r, "sync", None)
        for i, node in mine.items():
            lbs[i] = node.next_time()
        for r in range(1, self.size):
            self._take(self._answer(r), lbs)
        while True:
            for i in range(nnodes):  # in node order, as LocalBackend submits them
                if owner[i] == 0:
                    node = mine[i]
                    if node.outbox:
                        noc.submit(node.outbox)
                        node.outbox = []
                else:
                    out = self.outboxes.pop(i, None)
                    if out:
                        noc.submit(out)
            if until is not None and until():
                self.paused_at = reached(lbs, noc, la)
                return
            plan = next_round(lbs, noc, la, limit, self._deliver)
            if plan is None:
                self.paused_at = reached(lbs, noc, la)
                return
            moves, gvt = plan
            self.rounds += 1
            work: dict[int, list[tuple[int, int]]] = {}
            for i, horizon in moves:
                work.setdefault(owner[i], []).append((i, horizon))
            busy = [r for r in sorted(work) if r != 0]
            for r in busy:
                self._post(r, "adv", (work[r], limit, window))
            self._flush_local()
            for i, horizon in work.get(0, ()):
                lbs[i] = mine[i].advance(horizon, limit, window)
            t0 = time.perf_counter()
            for r in busy:
                self._take(self._answer(r), lbs)
            self.wait_seconds += time.perf_counter() - t0
            if self.rounds % 256 == 0:
                noc.prune(gvt)

    def _take(self, reply: tuple[dict[int, int], list[tuple[int, list[Packet]]]], lbs: list[int]) -> None:
        times, outs = reply
        for i, t in times.items():
            lbs[i] = t
        for i, pkts in outs:
            self.outboxes.setdefault(i, []).extend(pkts)

    def _deliver(self, p: Packet) -> int:
        """LocalBackend._deliver: number the packet, hand it (or its failure note) to its node's
        rank; the node that receives something."""
        self._seq += 1
        p.seq = self._seq
        if p.failed:
            note = Packet(p.dst, p.src, Kind.NOC_ERROR,
                          NocError(kind=p.kind, body=p.body, to=p.dst, data=p.data, form=p.form),
                          b"", 0, p.arrival, 1, 0)
            note.seq, note.arrival = p.seq, p.arrival
            p, t = note, p.src
        else:
            t = p.dst
        r = self.owner[t]
        if r == 0:
            self.mine[t].deliver(p)
        else:
            self.inboxes[r].append((t, p))
        return t


def serve() -> int:
    """The loop of a rank other than 0: keep its clusters' kernels and do what rank 0 asks."""
    comm = mpi().COMM_WORLD
    rank = comm.Get_rank()
    chips: dict[int, dict[int, Kernel]] = {}
    # Test hook: "RANK:MESSAGES[:stop]" kills (or stops, as a hung host would) that rank then.
    die = os.environ.get("SHOAL_MPI_TEST_DIE", "")
    die_rank, die_after, *how = die.split(":") if die else ("", "", "")
    count = 0
    try:
        while True:
            cid, op, deliveries, drops, args = _recv(comm, 0, bounded=False)
            count += 1
            if die and int(die_rank) == rank and count >= int(die_after):
                os.kill(os.getpid(), 19 if how == ["stop"] else 9)  # SIGSTOP, SIGKILL
            for d in drops:
                chips.pop(d, None)
            if op == "quit":
                return 0
            if op == "init":
                spec, seed, clusters, la = args
                ks = chips[cid] = {c: new_kernel(spec, c, tid_allocator(c)) for c in clusters}
                for k in ks.values():
                    k.lookahead = la
                continue
            ks = chips[cid]
            for t, p in deliveries:
                ks[t].deliver(p)
            try:
                if op == "adv":
                    horizons, limit, window = args
                    reply: Any = ({i: ks[i].advance(h, limit, window) for i, h in horizons}, _outboxes(ks))
                elif op == "sync":
                    reply = ({c: k.next_time() for c, k in ks.items()}, _outboxes(ks))
                elif op == "call":
                    cluster, request, a = args
                    reply = getattr(host, request)(ks[cluster], *a)
                else:  # gather
                    request, a = args
                    reply = [getattr(host, request)(ks[c], *a) for c in sorted(ks)]
                comm.send(("ok", reply), dest=0)
            except Exception as e:  # noqa: BLE001 -- rank 0 raises it where the host asked
                try:
                    comm.send(("err", e), dest=0)
                except Exception:  # noqa: BLE001 -- an exception that does not pickle
                    comm.send(("err", ShoalError(f"rank {rank}: {type(e).__name__}: {e}")), dest=0)
    except KeyboardInterrupt:
        return 130


def _outboxes(ks: dict[int, Kernel]) -> list[tuple[int, list[Packet]]]:
    out = []
    for c in sorted(ks):
        k = ks[c]
        if k.outbox:
            out.append((c, k.outbox))
            k.outbox = []
    return out


def rank_role() -> int | None:
    """Under the MPI backend ($SHOAL_BACKEND=mpi or --backend mpi), this process's rank; rank 0
    started by `launch` writes to the launcher's pipes."""
    comm = mpi().COMM_WORLD
    rank = comm.Get_rank()
    if rank == 0:
        _stop_at_exit(comm)
        path = os.environ.get("SHOAL_MPI_IN")
        if path:
            r = os.open(path, os.O_RDONLY)
            os.dup2(r, 0)
            os.close(r)
        for var, fd in (("SHOAL_MPI_OUT", 1), ("SHOAL_MPI_ERR", 2)):
            path = os.environ.get(var)
            if path:
                w = os.open(path, os.O_WRONLY)
                os.dup2(w, fd)
                os.close(w)
    return rank


def report_status(code: int) -> None:
    """Rank 0's exit code, for the launcher (mpiexec's own is not the program's). After a rank
    that did not answer, MPI's abort ends every rank (a hung one cannot take a message)."""
    import sys
    path = os.environ.get("SHOAL_MPI_STATUS")
    if path:
        with open(path, "w") as f:
            f.write(f"{code}\n")
    if _lost:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)  # MPI's own "Abort(...)" line: the one line above is the run's
        mpi().COMM_WORLD.Abort(code or 1)


def join() -> None:
    """For a Python script started by mpiexec: ranks other than 0 serve rank 0's chips and
    end here; rank 0 goes on, and its chips use the MPI backend."""
    import sys

    if rank_role() != 0:
        sys.exit(serve())
    os.environ["SHOAL_BACKEND"] = "mpi"
