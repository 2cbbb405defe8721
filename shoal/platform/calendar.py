"""A calendar of busy intervals: how a shared resource (a kernel core, a daemon core, a NoC
link) is given out in simulated time.

A calendar, not a busy-until clock: work is booked in the first gap that fits at or after
the time it is ready, so a request simulated later but earlier in simulated time can still
use a gap before work already booked.
"""

from __future__ import annotations

import bisect


class Calendar:
    def __init__(self) -> None:
        self.busy: list[tuple[int, int]] = []  # sorted, disjoint [start, end)

    def first_fit(self, at: int, cost: int) -> int:
        """The first start at or after `at` with `cost` cycles free."""
        busy = self.busy
        if not busy or busy[-1][1] <= at:  # after everything booked: the usual case
            return at
        i = bisect.bisect_right(busy, (at, at))
        if i > 0 and busy[i - 1][1] > at:
            i -= 1
        n, end = len(busy), at + cost
        while i < n:
            s, e = busy[i]
            if s >= end:
                break
            if e > at:
                at, end = e, e + cost
            i += 1
        return at

    def reserve(self, start: int, end: int) -> None:
        busy = self.busy
        if not busy or busy[-1] <= (start, end):  # (insort's place: the end)
            busy.append((start, end))
        else:
            bisect.insort(busy, (start, end))

    def book(self, at: int, cost: int) -> int:
        """Reserve `cost` cycles in the first gap at or after `at`; returns their start."""
        busy = self.busy
        if not busy or busy[-1][1] <= at:  # after everything booked (sorted, disjoint: the last ends last)
            busy.append((at, at + cost))
            return at
        start = self.first_fit(at, cost)
        bisect.insort(busy, (start, start + cost))
        return start

    def prune(self, before: int) -> None:
        """Forget what ends by `before`: nothing can be booked before it any more."""
        busy = self.busy
        if not busy or busy[0][1] > before:
            return
        # Disjoint and sorted: every interval before the last that starts by `before` ends by
        # it; that last one too, unless it spans `before`.
        i = bisect.bisect_right(busy, (before, before))
        if i and busy[i - 1][1] > before:
            i -= 1
        del busy[:i]
