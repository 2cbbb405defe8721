"""A request to move a container (from the host, a guest's shoal_migrate, or a policy):
checked, recorded, and started by its method; the source's answer to the destination's
reservation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shoal.abi import EBUSY, EINVAL, EOPNOTSUPP, ESRCH
from shoal.kernel import report
from shoal.kernel.container import Container, FileKind
from shoal.kernel.migrate.freeze import FREEZE_TIMEOUT
from shoal.kernel.migrate.precopy import send_round
from shoal.kernel.migrate.record import (
    ACTIVE,
    CHECKPOINT,
    DOWNTIME_LIMIT_US,
    MAX_BYTES_FACTOR,
    MAX_ROUNDS,
    METHODS,
    Method,
    MigState,
    Outgoing,
    find_record,
)
from shoal.kernel.migrate.source import progress, send_image, source_waited
from shoal.kernel.migrate.watchdog import arm, disarm, round_trip, send
from shoal.messages import MigRelease, MigReserve

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.platform.noc import Packet


def request(k: Kernel, p: Container, dst: int, at: int, by: str,
            stop: bool = False, method: str = Method.STOPCOPY, options: dict | None = None) -> int:
    """Start migrating `p` to cluster `dst` by `method` (or checkpointing it if dst is
    CHECKPOINT, then ending it if `stop`); 0, or a negative errno if refused at once.
    `options` may set the live methods' downtime_limit (cycles), max_rounds, max_bytes."""
    if not (0 <= dst < k.spec.compute_clusters or dst == CHECKPOINT) or method not in METHODS:
        return -EINVAL
    if not p.alive:
        return -EBUSY
    if any(m.pid == p.pid and m.state in ACTIVE for m in k.migration.outgoing.values()):
        return -EBUSY
    if p.aspace.incoming:  # still receiving its pages from an earlier move
        return -EBUSY
    if p.family.children or (dst == CHECKPOINT and (any(f.kind in (FileKind.PIPE, FileKind.SOCK)
                                                        for f in p.fs.files.values())
                                                    or any(t.call.fifo for t in p.threads))):
        # the waits for unreaped children stay here; pipes (a FIFO an open waits at too) and
        # sockets stay on the chip
        return -EOPNOTSUPP
    if dst == CHECKPOINT and p.aspace.swap.pages:  # a checkpoint carries every page; these are away
        return -EBUSY
    k.migration.ids += 1
    m = Outgoing((k.cluster << 32) | k.migration.ids, p.pid, k.cluster, dst, at, by, stop=stop,
                 method=Method(method) if dst != CHECKPOINT else Method.STOPCOPY)
    opts = options or {}
    m.limit = opts.get("downtime_limit", math.ceil(DOWNTIME_LIMIT_US * 1e-6 * k.spec.cluster.freq_hz))
    m.max_rounds = opts.get("max_rounds", MAX_ROUNDS)
    m.max_bytes = opts.get("max_bytes", MAX_BYTES_FACTOR * p.aspace.data_frames * k.spec.cluster.page_size)
    k.migration.outgoing[m.mid] = m
    k.migration.log.append(m)
    if dst == k.cluster:  # already there: nothing to move
        m.state, m.frozen, m.thawed, m.ended, m.reason = MigState.DONE, at, at, at, "already there"
        del k.migration.outgoing[m.mid]
        return 0
    if m.method in (Method.PRECOPY, Method.HYBRID):  # reserve first; the process runs on meanwhile
        m.state = MigState.RESERVING
        # Watched from now on, so that it keeps step with the protocol (sched.run_slice).
        p.aspace.start_tracking()
        k.cpu.flush_tlb()
        frames = p.aspace.frames_in_use
        send(k, m, m.dst, MigReserve(mid=m.mid, pid=m.pid, frames=frames,
                                       bytes=p.aspace.data_frames * k.spec.cluster.page_size), at)
        arm(k, m, at + round_trip(k.spec), source_waited)
        return 0
    p.state = "freezing"
    p.move.freeze_at = at
    k.at(at, lambda now: progress(k, now))  # the freeze is an item of the cluster at `at`
    k.at(at + FREEZE_TIMEOUT + 1, lambda now: progress(k, now))  # and so is its time limit
    return 0


def on_accept(k: Kernel, pkt: Packet, at: int) -> None:
    m = find_record(k, pkt.body.mid)
    if m is None:
        return
    if m.state == MigState.RESERVING and m.method in (Method.PRECOPY, Method.HYBRID) and m.shape is None:
        m.state, m.accepted = MigState.PRECOPY, True
        disarm(m)
        send_round(k, m, at)
    elif m.state == MigState.RESERVING:
        m.state = MigState.COPYING
        send_image(k, m, max(at, m.image_ready))
    elif m.state == MigState.FAILED:  # aborted meanwhile: D holds a reservation for nothing
        send(k, m, m.dst, MigRelease(mid=m.mid), at)


def on_policy_move(k: Kernel, pkt: Packet, at: int) -> None:
    """The policy daemon asks for a move of one of this cluster's processes (kernel/report.py
    sends it the loads it decides on)."""
    b = pkt.body
    p = k.find_proc(b.pid)
    if p is None or not p.alive:
        report.refuse(k, b, -ESRCH, "the process is not on this cluster", at)
        return
    if p.state != "running":
        report.refuse(k, b, -EBUSY, f"the process is {p.state}", at)
        return
    err = request(k, p, b.dst, at, f"policy:{b.policy}", method=b.method)
    if err:
        why = "it is moving, or its pages still follow it" if err == -EBUSY else "bad request"
        report.refuse(k, b, err, why, at)
        return
    m = k.migration.log[-1]
    m.why = b.why
