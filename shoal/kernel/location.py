"""Locations that follow the process: forwarding pointers, location notices, and the
process manager's routing of packets that went astray.

A sender names a process by pid; its output endpoint (ikc.Remote) remembers the cluster
the process manager gave when it was opened. Once the process moves, that cluster is
stale. The steps, each a NoC packet or a kernel's own state:

1. Forward. The cluster a process left keeps a forwarding pointer (`Kernel.moved`, set by
   the migration at its commit) and passes on every targeted packet (mailbox, portal and
   sync traffic for that pid), keeping who sent it (`reply_to`).
2. Notice. The kernel that finally takes in a packet that did not come straight from its
   sender (it was forwarded or relayed) sends `located` (pid, its cluster, the container's
   generation) to the original sender's kernel, which points every output endpoint of its
   processes that targets the pid at that cluster: later packets go direct, so IKC with a
   moved process costs what it costs between the two clusters, however often it moved.
   A generation (how many times the container was moved or restored) only grows, so a
   late notice from an earlier home never undoes a newer one.
3. Record. The process manager (shoal/daemons/procman.py) is the authority: the migration tells it
   (`moved`, sent by the old cluster at the commit). It applies a move only if the move
   leaves from where its record says the process is; a move that does not is early (the
   `moved` packets of one process leave from different clusters and may cross on the
   NoC) and waits for its predecessor. Each applied move gets a fresh record version.
4. Drop. The manager acknowledges each applied move to the old cluster (`moved_ack`),
   which then drops its pointer if it still points where the acknowledgement says (the
   process may have come back and left again meanwhile: a newer pointer is kept).
5. Relay. A targeted packet that reaches a cluster where its pid does not live and which
   has no pointer goes to the process manager (`relay`). The manager sends it to the
   cluster of its record, stamped with the record's version; refuses it as the receiving
   kernel does if the process has ended or never existed (the same errno reaches the
   sender: -ECONNREFUSED for a mailbox write or portal request, -ECONNRESET for portal
   data; a sync signal is dropped); or, if it comes back stamped with the current version
   (the record is behind: a `moved` or `exit` for that pid is on its way), keeps it until
   the record changes and then routes or refuses it.

Why it is safe:
- Nothing is lost or duplicated: a packet is never copied; each step passes the one packet
  on, holds it (a frozen process, a record that is behind), or answers it once. Notices and
  acknowledgements carry no message and change only where later packets go.
- No packet loops for ever. Following pointers, each hop goes to where the process went
  when it last left the cluster, which it reached later than it left the previous one: a
  chain of pointers has no cycle and ends where the pid lives (the packet is taken in, or
  held while it is frozen and forwarded at the commit) or at a cluster with neither (the
  packet goes to the manager). The manager sends a packet out again only under a newer
  record version than the one it came back with, and versions change only on `moved` and
  `exit`, finitely many. A record that is behind always has one of them on its way: its
  moves form a path from the first cluster; applying every arrived move that leaves from
  the recorded cluster walks that path, and a walk can stop short of the process's
  cluster only at a cluster the process left by a move not yet arrived.
- A pointer is dropped only after the manager has a record at least as new as the move
  that made it, so a packet reaching the old cluster afterwards reaches the process
  through the manager; a premature drop (the process came back and left for the same
  cluster again before the acknowledgement of its first move arrived) at worst sends a
  packet once more through the manager.
- The sender may move too: its output endpoints travel in its image with the clusters
  they had (generations are not kept: the next notice is taken whatever its number). A
  notice for a sender that left goes to its old kernel, where it finds no endpoint to
  change; the next packet from the new kernel goes astray once and brings a new notice.
- A process that moves back to a cluster it left: adopting it removes the pointer there,
  and a late `moved_ack` for the old pointer changes nothing.
- A packet reaching a destination that has restored the process but not yet adopted it is
  taken in by the restored container there, as before this mechanism.

Forwarding state lives only until the manager's acknowledgement arrives (about two NoC
trips after the commit); what remains per kernel are counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec.structs import replace

from shoal.abi import ECONNREFUSED, ECONNRESET, ESRCH
from shoal.kernel.container import Container
from shoal.kernel.ikc import Remote
from shoal.messages import UNSET, Kind, Located, Relay, answer_to
from shoal.platform.noc import Packet
from shoal.record import dataclass

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel

# What the receiving kernel answers a targeted packet whose process is gone (ikc.py's
# handlers without an endpoint): the manager answers the same. None: no answer.
REFUSAL: dict[Kind, int | None] = {
    Kind.MBX_DATA: -ECONNREFUSED,
    Kind.PORTAL_REQ: -ECONNREFUSED,
    Kind.PORTAL_DATA: -ECONNRESET,
    Kind.SYNC_SIGNAL: None,
    Kind.RMEM_FULL: None,  # (the process has ended: nothing to kill)
    Kind.SIGNAL: -ESRCH,  # kill(2) of a process that has ended (kernel/calls/signal.py)
    Kind.REPARENT: None,  # (an orphan that has ended too: nobody asks its parent)
    Kind.SCHED_OP: -ESRCH,  # sched_* or get/setpriority of a process that has ended (calls/prio.py)
}


@dataclass
class Counters:
    """What one kernel did for the mechanism (for tests and measurements)."""

    forwarded: int = 0  # packets passed on by a forwarding pointer
    relayed: int = 0  # packets sent to the process manager: no process, no pointer here
    notices_sent: int = 0
    notices_taken: int = 0
    endpoints_updated: int = 0  # output endpoints pointed at a new cluster by notices
    pointers_dropped: int = 0


def follow(k: Kernel, pkt: Packet, at: int) -> None:
    """Step 1: the pid left this cluster; pass the packet on along the pointer."""
    k.stats.locations.forwarded += 1
    k.forward(pkt, k.migration.moved[pkt.body.dst], at)


def arrived(k: Kernel, pkt: Packet, p: Container | None, at: int) -> bool:
    """A targeted packet for a pid that has no pointer here and is not frozen here. If the
    pid lives here, tell a sender that missed it (step 2) and let the caller take the
    packet in (False); otherwise send the packet to the process manager (step 5, True)."""
    pid = pkt.body.dst
    if p is None:
        p = restored(k, pid)
    if p is None:
        k.stats.locations.relayed += 1
        bulk = pkt.chunk == k.spec.ikc.portal_chunk
        body = Relay(kind=pkt.kind, bulk=bulk, body=replace(pkt.body, reply_to=answer_to(pkt.body, pkt.src)))
        k.send(k.services_node, body, pkt.data, at, bulk=bulk)
        return True
    if pkt.body.reply_to is not UNSET:  # forwarded or relayed: its sender has a stale location
        k.stats.locations.notices_sent += 1
        k.send(pkt.body.reply_to, Located(pid=pid, cluster=k.cluster, gen=p.move.generation), at=at)
    return False


def restored(k: Kernel, pid: int) -> Container | None:
    """A container restored here by a migration that has not committed yet."""
    for e in k.migration.incoming.values():
        if e.proc is not None and e.proc.pid == pid and e.proc.alive:
            return e.proc
    return None


def on_located(k: Kernel, pkt: Packet, at: int) -> None:
    """Step 2 at the sender's kernel: point its processes' endpoints at the new cluster."""
    k.stats.locations.notices_taken += 1
    b = pkt.body
    for p in k.procs:
        for ep in p.ikc.values():
            if isinstance(ep, Remote) and ep.relocate(b.pid, b.cluster, b.gen):
                k.stats.locations.endpoints_updated += 1


def on_moved_ack(k: Kernel, pkt: Packet, at: int) -> None:
    """Step 4: the process manager has recorded the move; the pointer is no longer needed."""
    pid = pkt.body.pid
    if k.migration.moved.get(pid) == pkt.body.cluster:
        del k.migration.moved[pid]
        k.stats.locations.pointers_dropped += 1


HANDLERS = {Kind.LOCATED: on_located, Kind.MOVED_ACK: on_moved_ack}
