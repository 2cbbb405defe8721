"""platform/calendar.py, the calendar every kernel core, daemon core and NoC link is given out
by: its shortcuts (appending after everything booked, pruning by bisection, touching bookings
kept as one run that a search steps over at once) give exactly what the plain definition
gives, checked against a model that keeps every booking apart, for any mix of bookings,
reservations, zero costs, searches and prunes: every answer, and every search one could make
after each step."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.platform.calendar import Calendar


class Model:
    """The definitions, step by step: a sorted list of [start, end) bookings; a search walks
    every booking from the first that ends after `at`, moving past each that starts before
    the candidate's end."""

    def __init__(self) -> None:
        self.busy: list[tuple[int, int]] = []

    def first_fit(self, at: int, cost: int) -> int:
        for s, e in sorted(self.busy):
            if e <= at and not (s == e == at):
                continue
            if s >= at + cost:
                break
            at = max(at, e)
        return at

    def reserve(self, start: int, end: int) -> None:
        self.busy = sorted([*self.busy, (start, end)])

    def book(self, at: int, cost: int) -> int:
        start = self.first_fit(at, cost)
        self.reserve(start, start + cost)
        return start

    def prune(self, before: int) -> None:
        i = 0
        while i < len(self.busy) and self.busy[i][1] <= before:
            i += 1
        del self.busy[:i]


ops = st.lists(st.tuples(st.sampled_from(["book", "fit", "prune"]), st.integers(0, 300),
                         st.sampled_from([0, 1, 2, 5, 17, 40])), max_size=60)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(ops=ops)
def test_the_calendar_is_its_definition(ops: list[tuple[str, int, int]]) -> None:
    cal, model = Calendar(), Model()
    floor = 0  # (prunes only move forward: nothing is booked before what was forgotten)
    for op, at, cost in ops:
        at = max(at, floor)
        if op == "book":
            assert cal.book(at, cost) == model.book(at, cost)
        elif op == "fit":
            t = cal.first_fit(at, cost)
            assert t == model.first_fit(at, cost)
            cal.reserve(t, t + cost)  # (as the NoC does: a search, then the reservation)
            model.reserve(t, t + cost)
        else:
            floor = at
            cal.prune(at)
            model.prune(at)
        for probe in range(0, 420, 7):
            for cost in (0, 1, 9, 40):
                assert cal.first_fit(probe, cost) == model.first_fit(probe, cost), (probe, cost)
    # What is kept is what the model keeps, touching bookings merged (bounded as the model is).
    merged: list[tuple[int, int]] = []
    for s, e in model.busy:
        if merged and merged[-1][1] == s and merged[-1][0] < s < e:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    assert cal.busy == merged


def test_a_run_of_back_to_back_bookings_is_searched_past() -> None:
    cal = Calendar()
    assert [cal.book(100, 10) for _ in range(4)] == [100, 110, 120, 130]
    assert cal.first_fit(95, 5) == 95 and cal.first_fit(96, 5) == 140
    cal.reserve(150, 160)
    assert cal.first_fit(100, 10) == 140 and cal.first_fit(100, 11) == 160
    assert cal.busy == [(100, 140), (150, 160)] and cal.cuts == [110, 120, 130]
    at = (99, 100, 105, 110, 111, 139, 140)
    assert [cal.first_fit(t, 0) for t in at] == [99, 100, 110, 110, 120, 140, 140]
    cal.reserve(120, 120)  # a booking of no length where two met: the run splits there
    assert cal.busy == [(100, 120), (120, 120), (120, 140), (150, 160)] and cal.cuts == [110, 130]
    assert cal.first_fit(100, 30) == 160 and cal.first_fit(115, 0) == 120
    cal.prune(125)  # what ends by 125 goes; the run that spans it begins at its last cut
    assert cal.busy == [(120, 140), (150, 160)] and cal.cuts == [130]
    cal.prune(1000)
    assert cal.busy == [] and cal.cuts == []
