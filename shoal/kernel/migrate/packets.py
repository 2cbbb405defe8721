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
from shoal.messages import Body, Kind

if TYPE_CHECKING:
    from shoal.kernel.kernel import Kernel


def on_lost(k: Kernel, body: Body, at: int) -> None:
    """A protocol packet this kernel sent was lost (Kernel.on_lost routes it here)."""
    kind, mid = body.KIND, body.mid  # type: ignore[attr-defined]
    m = find_record(k, mid) if mid >> 32 == k.cluster else None
    if m is not None:
        source_lost(k, m, body, at)
    elif mid in k.migration.incoming:
        e = k.migration.incoming[mid]
        e.lost[kind] = e.lost.get(kind, 0) + 1
        if kind in (Kind.MIG_FETCH, Kind.MIG_GOT):  # post-copy: the process waits; say it again later
            k.at(at + round_trip(k.spec) // SLACK, lambda now: send(k, e, e.src, body, now))
        else:
            destination_lost(k, e, kind, at)



HANDLERS = {
    Kind.MIG_RESERVE: on_reserve, Kind.MIG_ACCEPT: on_accept, Kind.MIG_REFUSE: on_refuse,
    Kind.MIG_IMAGE: on_image,
    Kind.MIG_ACK: on_ack, Kind.MIG_COMMIT: on_commit, Kind.MIG_DONE: on_done, Kind.MIG_QUERY: on_query,
    Kind.MIG_ABORT: on_release, Kind.MIG_RELEASE: on_release,
    Kind.MIG_PAGES: on_pages, Kind.MIG_PAGES_ACK: on_pages_ack,
    Kind.MIG_PAGE: on_page, Kind.MIG_FETCH: on_fetch, Kind.MIG_GOT: on_got,
    Kind.POLICY_MOVE: on_policy_move,
}
