"""Where each packet of the protocol is taken (the kernel's table, kernel.PACKET_HANDLERS),
and where a lost one goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.kernel.migrate.destination import (
    destination_lost,
    on_commit,
    on_image,
    on_query,
    on_release,
    on_reserve,
)
from shoal.kernel.migrate.postcopy import on_fetch, on_got, on_page
from shoal.kernel.migrate.precopy import on_pages, on_pages_ack
from shoal.kernel.migrate.record import find_record
from shoal.kernel.migrate.request import on_accept, on_policy_move
from shoal.kernel.migrate.source import on_ack, on_done, on_refuse, source_lost
from shoal.kernel.migrate.watchdog import SLACK, round_trip, send

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


def on_lost(k: Kernel, kind: str, body: dict, at: int) -> None:
    """A protocol packet this kernel sent was lost (Kernel.on_lost routes it here)."""
    mid = body["mid"]
    m = find_record(k, mid) if mid >> 32 == k.cluster else None
    if m is not None:
        source_lost(k, m, kind, body, at)
    elif mid in k.incoming:
        e = k.incoming[mid]
        e.lost[kind] = e.lost.get(kind, 0) + 1
        if kind in ("mig_fetch", "mig_got"):  # post-copy: the process waits; say it again later
            k.at(at + round_trip(k.spec) // SLACK, lambda now: send(k, e, e.src, kind, body, now))
        else:
            destination_lost(k, e, kind, at)



HANDLERS = {
    "mig_reserve": on_reserve, "mig_accept": on_accept, "mig_refuse": on_refuse, "mig_image": on_image,
    "mig_ack": on_ack, "mig_commit": on_commit, "mig_done": on_done, "mig_query": on_query,
    "mig_abort": on_release, "mig_release": on_release,
    "mig_pages": on_pages, "mig_pages_ack": on_pages_ack,
    "mig_page": on_page, "mig_fetch": on_fetch, "mig_got": on_got,
    "policy_move": on_policy_move,
}
