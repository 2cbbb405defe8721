"""kill(2) of many processes (the process manager's side): kill(0, sig) and kill(-pgid, sig)
signal a process group, kill(-1, sig) every process but init and the caller. The manager
knows every process, its group and where it lives: it sends each a `signal` packet routed by
pid (as SIGCHLD is: it follows a moved process), each target's kernel checks the sender's
permission as for kill(pid) and answers, and the caller gets Linux's result once all have:
a group, 0 if any was signalled, else the last error (EPERM); every process (-1), 0 unless a
target failed other than by EPERM (as Linux counts it); no process at all, ESRCH.
getpriority/setpriority(PRIO_PGRP) go the same way with a `sched_op` to each member (the
caller too), and PRIO_USER to every process (those of another real uid answer ESRCH): the
highest 20 - nice, or Linux's setpriority result (the last member's error,
else 0)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shoal.abi import EINVAL, EPERM, ESRCH
from shoal.kernel.signals import NSIG
from shoal.messages import SchedOp, SignalMsg
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.daemons.procman import ProcRecord
    from shoal.platform.noc import Packet


@dataclass
class _Fan:
    """A kill to a group or to every process, fanned out: the request, its members yet to
    answer, and Linux's result so far (sent once the last has answered)."""

    req: Packet
    every: bool  # kill(-1)
    left: int
    what: int = -1  # a kill; else a SchedOp's what (1: getpriority, 2: setpriority)
    best: int = -ESRCH  # getpriority: the highest answer so far
    ok: bool = False
    err: int = 0


class GroupKills:
    def __init__(self, node: int, procs: dict[int, ProcRecord], send: Callable[..., None],
                 reply: Callable[..., None], new_op: Callable[[], int]) -> None:
        self.node, self.procs, self._send, self._reply, self._new_op = node, procs, send, reply, new_op
        self.fans: dict[int, _Fan] = {}  # an op of a signal sent -> its kill

    def on_kill_group(self, req: Packet, at: int) -> None:
        b = req.body
        me = self.procs.get(b.pid)
        pgid = b.pgid if b.pgid else (me.pgid if me is not None else 0)
        every = pgid == -1
        targets = [r for _, r in sorted(self.procs.items()) if r.status is None
                   and (b.uid >= 0 or (r.pid != b.pid if every else r.pgid == pgid))]
        if not targets:
            self._reply(req, at, ret=-ESRCH)
            return
        if b.what >= 0:  # get/setpriority of the group's members
            fan = _Fan(req, False, len(targets), what=b.what, err=-ESRCH)
            for r in targets:
                op = self._new_op()
                self.fans[op] = fan
                self._send(r.cluster, SchedOp(dst=r.pid, op=op, what=b.what, nice=b.nice, cred=list(b.cred),
                                              uid=b.uid, reply_to=self.node), at)
            return
        if not 0 <= b.info[0] <= NSIG:
            self._reply(req, at, ret=-EINVAL)
            return
        fan = _Fan(req, every, len(targets))
        for r in targets:
            op = self._new_op()
            self.fans[op] = fan
            self._send(r.cluster, SignalMsg(dst=r.pid, tid=0, info=list(b.info), op=op, reply_to=self.node,
                                            pm_version=r.version, cred=list(b.cred)), at)

    def on_reply(self, pkt: Packet, at: int) -> bool:
        """A target's answer (False: not one of ours)."""
        fan = self.fans.pop(pkt.body.op, None)
        if fan is None:
            return False
        ret = pkt.body.ret
        if fan.what >= 0:
            self._prio(fan, ret, at)
            return True
        if ret >= 0:
            fan.ok = True
        elif not fan.every or ret != -EPERM:
            fan.err = ret
        fan.left -= 1
        if fan.left == 0:
            self._reply(fan.req, at, ret=(fan.err if fan.every else 0 if fan.ok else fan.err or -EPERM))
        return True

    def _prio(self, fan: _Fan, ret: int, at: int) -> None:
        """A member's answer to get/setpriority (Linux: the highest priority; for a set, an
        error stays the result, a success only replaces ESRCH)."""
        if fan.what == 1:
            fan.best = max(fan.best, ret)
        elif ret < 0 and ret != -ESRCH:
            fan.err = ret
        elif ret >= 0 and fan.err == -ESRCH:
            fan.err = 0
        fan.left -= 1
        if fan.left == 0:
            self._reply(fan.req, at, ret=fan.best if fan.what == 1 else fan.err)
