"""Failures. The NoC tells a sender when one of its transfers failed (a `noc_error` note at the
time it would have arrived), and each side keeps a watchdog (a timer on its own kernel, never
on the NoC) for answers that do not come, its patience SLACK times what the exchange takes
alone in the timing model. A watchdog only asks or says again; it decides nothing until TRIES
rounds have passed, so one that fires early does no harm.
  - A lost mig_reserve or mig_image (before the commit, from S): S aborts at once; after a
    lost image it sends mig_release, so that D drops its reservation.
  - A lost reply (accept, refuse, ack), commit, done, or cleanup (release, abort): its sender
    sends it again, at most TRIES times in all.
  - Each side answers what it hears with where it stands, whatever it sent before: D answers
    S's mig_query (or a repeated commit) with its last answer (accept, ack, done or refuse);
    S answers an accept or ack that comes after it aborted with a release or abort, and an
    ack after its commit with the commit again.
  - S's watchdog, before the commit: mig_query, then after TRIES unanswered questions S aborts
    and sends mig_abort. After the commit: mig_commit again.
  - D's watchdog says its accept or ack again. A reservation is a lease: after TRIES rounds
    with no image D drops it, and refuses a late image (S, not yet committed, aborts). D drops
    a rebuilt copy only on S's word, or when every ack it sent was lost (S cannot have
    committed then).
  - When a side has sent a packet TRIES times in vain it stops, in a final state. S's record
    ends "failed" before the commit (the process runs at S), or "done" with the reason that D
    did not confirm after it (D says its ack again, and S answers with the commit). D drops a
    reservation whose accepts were all lost; a D that S never answers keeps its frozen copy
    rather than risk losing the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shoal.kernel.migrate.record import Incoming, Outgoing
from shoal.messages import Body
from shoal.platform.noc import transfer_cycles

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel
    from shoal.spec import ChipSpec


# Protocol choices (not hardware figures): how often one packet is sent at most, and how much
# longer than alone on the chip an exchange may take before a watchdog asks again (16: as if
# every compute cluster of the MPPA-256 shared its links and kernel core).
TRIES = 8
SLACK = 16
CONTROL_BYTES = 64  # a bound on the body of a migration control packet, for the watchdogs


def _alone(spec: ChipSpec, nbytes: int, bulk: bool = False) -> int:
    """A transfer alone on the chip over the longest route, and its handling at the receiver."""
    hops = spec.noc.mesh_width // 2 + spec.noc.mesh_height // 2 + 2
    header = spec.ikc.portal_header if bulk else spec.ikc.mailbox_header
    return transfer_cycles(spec, nbytes, spec.ikc.portal_chunk, header, hops) + spec.ikc.ikc_recv_cycles


# A watchdog's patience: SLACK times the exchange alone on the chip.
def round_trip(spec: ChipSpec) -> int:
    return SLACK * 2 * _alone(spec, CONTROL_BYTES)


def image_trip(spec: ChipSpec, nbytes: int, rebuild: int) -> int:
    return SLACK * (_alone(spec, nbytes + CONTROL_BYTES, bulk=True) + rebuild + _alone(spec, CONTROL_BYTES))


def send(k: Kernel, rec: Outgoing | Incoming, dst: int, body: Body, at: int,
          data: bytes = b"", bulk: bool = False) -> None:
    kind = body.KIND
    rec.sends[kind] = rec.sends.get(kind, 0) + 1
    k.send(dst, body, data, at, bulk)


def again(k: Kernel, rec: Outgoing | Incoming, dst: int, body: Body, at: int) -> bool:
    """Send a packet once more, unless it went TRIES times already; True if sent."""
    if rec.sends.get(body.KIND, 0) >= TRIES:
        return False
    if isinstance(rec, Outgoing):
        rec.resent += 1
    send(k, rec, dst, body, at)
    return True


def arm(k: Kernel, rec: Outgoing | Incoming, at: int, waited: Callable[[Kernel, Any, int], None]) -> None:
    """Set this side's watchdog for `rec` to `at` (a timer of this kernel: an item of the
    cluster at that time, never a packet); an earlier one no longer counts. `waited` is what
    the side does when it fires (source.source_waited, destination.destination_waited)."""
    rec.watchdog += 1
    gen = rec.watchdog
    k.at(at, lambda now: _fire(k, rec, gen, waited, now))


def disarm(rec: Outgoing | Incoming) -> None:
    rec.watchdog += 1


def _fire(k: Kernel, rec: Outgoing | Incoming, gen: int, waited: Callable[[Kernel, Any, int], None],
          now: int) -> None:
    if rec.watchdog == gen:
        waited(k, rec, now)
