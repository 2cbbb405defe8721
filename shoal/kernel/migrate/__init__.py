"""Migration: moving a container from one compute cluster's kernel to another's, a protocol
over the NoC (docs/design.md, "Containers and migration", draws it). Where each step happens:

    request.py      a move is asked for (host, guest's shoal_migrate, policy) and started
    freeze.py       the container's threads stop (or are backed out of their calls); thaw
    source.py       the source: the image built and sent, the commit, the record's end
    destination.py  the destination: the reservation, the rebuild, the thaw on the commit
    precopy.py      pre-copy rounds before the freeze (and hybrid's one round)
    postcopy.py     post-copy: pages that follow the thaw, a fault on one not yet there
    watchdog.py     sending, resending, and the timers of both sides; the failure rules
    cost.py         the timing model (what each step costs the kernel cores)
    record.py       the records: Migration (published to the host), Incoming (the destination's)
    packets.py      which function takes each packet kind, and where a lost packet goes

No import circle: each module imports only those after it in packets, request, precopy,
source, postcopy, destination, watchdog, freeze, cost, record.
"""

from __future__ import annotations

from shoal.abi import EBUSY, EIO
from shoal.kernel.migrate.freeze import TARGETED, thaw
from shoal.kernel.migrate.packets import HANDLERS, on_lost
from shoal.kernel.migrate.postcopy import ALL_PAGES, await_page
from shoal.kernel.migrate.record import (
           ACTIVE,
           CHECKPOINT,
           MAX_ROUNDS,
           METHODS,
           Bookkeeping,
           Incoming,
           InState,
           Method,
           Migration,
           MigState,
           Outgoing,
)
from shoal.kernel.migrate.request import request
from shoal.kernel.migrate.source import progress
from shoal.kernel.migrate.watchdog import TRIES

__all__ = ["ACTIVE", "ALL_PAGES", "CHECKPOINT", "EBUSY", "EIO", "HANDLERS", "MAX_ROUNDS", "METHODS",
           "TARGETED", "Bookkeeping", "TRIES", "InState", "Incoming", "Method", "MigState", "Migration",
           "Outgoing",
           "await_page", "on_lost", "progress", "request", "thaw"]
