"""A calendar of busy intervals: how a shared resource (a kernel core, a daemon core, a NoC
link) is given out in simulated time.

A calendar, not a busy-until clock: work is booked in the first gap that fits at or after
the time it is ready, so a request simulated later but earlier in simulated time can still
use a gap before work already booked.

Bookings that touch (one ends where the next begins, both of some length) are kept as one
run: a search then steps over a queue of back-to-back work (a batch of page write-backs on
a link, a kernel core's queued calls) at once instead of booking by booking. Where they met
is kept (`cuts`), because a search of no length inside a run stops at the end of the booking
it falls in, as it did when every booking was kept apart: every answer is the same.
"""

from __future__ import annotations

import bisect


class Calendar:
    def __init__(self) -> None:
        # Sorted, disjoint [start, end): bookings, touching ones of positive length merged into
        # one run (one of no length stays on its own, between the runs it touches).
        self.busy: list[tuple[int, int]] = []
        self.cuts: list[int] = []  # sorted: where the bookings merged into a run met

    def first_fit(self, at: int, cost: int) -> int:
        """The first start at or after `at` with `cost` cycles free."""
        busy = self.busy
        if not busy or busy[-1][1] <= at:  # after everything booked: the usual case
            return at
        i = bisect.bisect_right(busy, (at, at))
        if i > 0 and busy[i - 1][1] > at:
            i -= 1
            if cost == 0 and busy[i][0] < at and self.cuts:
                # Inside a run: the booking that holds `at` ends at the first cut from `at` on
                # (`at` itself if two bookings meet there), or where the run ends.
                cuts = self.cuts
                j = bisect.bisect_left(cuts, at)
                if j < len(cuts) and cuts[j] < busy[i][1]:
                    return cuts[j]
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
        """Book [start, end), which must be free (as `first_fit` found it)."""
        busy = self.busy
        if start == end:
            i = bisect.bisect_right(busy, (start, end))
            if i and busy[i - 1][0] < start < busy[i - 1][1]:
                # At a cut inside a run: the run goes back to the two bookings meeting there,
                # with this one between them.
                s, e = busy[i - 1]
                busy[i - 1:i] = [(s, start), (start, start), (start, e)]
                j = bisect.bisect_left(self.cuts, start)
                if j < len(self.cuts) and self.cuts[j] == start:
                    del self.cuts[j]
            else:
                busy.insert(i, (start, end))
            return
        if not busy or busy[-1][1] < start:  # (after everything, touching nothing)
            busy.append((start, end))
            return
        s, e = busy[-1]
        if e == start and s < start:  # (after everything, touching the last run: it grows)
            busy[-1] = (s, end)
            self.cuts.append(start)  # (the latest cut: every other lies in a run before it)
            return
        i = bisect.bisect_right(busy, (start, end))
        left = i > 0 and busy[i - 1][1] == start and busy[i - 1][0] < start
        right = i < len(busy) and busy[i][0] == end and busy[i][1] > end
        if not left and not right:
            busy.insert(i, (start, end))
            return
        lo, hi = i - left, i + right
        busy[lo:hi] = [(busy[lo][0] if left else start, busy[hi - 1][1] if right else end)]
        if left:
            bisect.insort(self.cuts, start)
        if right:
            bisect.insort(self.cuts, end)

    def book(self, at: int, cost: int) -> int:
        """Reserve `cost` cycles in the first gap at or after `at`; returns their start."""
        busy = self.busy
        if not busy or busy[-1][1] < at:  # after everything booked (sorted, disjoint: the last ends last)
            busy.append((at, at + cost))
            return at
        start = self.first_fit(at, cost)
        self.reserve(start, start + cost)
        return start

    def prune(self, before: int) -> None:
        """Forget what ends by `before`: nothing can be booked before it any more."""
        busy = self.busy
        if not busy:
            return
        if busy[0][1] <= before:
            # Disjoint and sorted: every interval before the last that starts by `before` ends
            # by it; that last one too, unless it spans `before`.
            i = bisect.bisect_right(busy, (before, before))
            if i and busy[i - 1][1] > before:
                i -= 1
            del busy[:i]
        cuts = self.cuts
        if cuts and cuts[0] <= before:
            # The bookings of the run that spans `before` which end by it go too: the run now
            # begins at the last cut up to `before`.
            j = bisect.bisect_right(cuts, before)
            c = cuts[j - 1]
            if busy and busy[0][0] < c < busy[0][1]:
                busy[0] = (c, busy[0][1])
            del cuts[:j]
