"""The bound on a user's policy's time (daemons/policy.py asks each policy through it).

It is counted, not timed: every Python line, call and return of a user's policy (and of
whatever it calls in Python) is a step, counted by a trace function, so whether a policy is
switched off depends on the policy and its input only, never on the host's speed, and a slow
policy that finishes within the bound gives the same results everywhere. Code the count
cannot see (a loop inside a C function, a sleep, a policy that removes the trace function)
(or a one-line `while True: pass`: CPython 3.11 reports no line event for its jump to
itself) meets a wall-clock backstop instead (POLICY_WALL_SECONDS of host time, far above what
POLICY_STEPS costs): only such a policy can get a result that depends on the host, and only
at its extremity. The built-in policies are trusted: not counted, so they cost nothing more.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

# The most Python steps (lines, calls, returns) one call of a user's policy may take, with what
# it does to its answer (iterating it, turning `why` into text): ~1 s of host time when traced,
# some 100x what a policy over a 256-cluster chip needs.
POLICY_STEPS = 2_000_000
POLICY_WALL_SECONDS = 60.0  # the backstop for what steps cannot count (see above)


class PolicyError(Exception):
    """Why a policy is switched off (beyond its own exceptions)."""


class _OverBudget(BaseException):  # (not an Exception: a policy's `except Exception` lets it by)
    pass


def budgeted(fn: Callable[[], object]) -> object:
    """fn() with at most POLICY_STEPS Python steps (and the wall-clock backstop); PolicyError
    beyond. Past the bound every further step raises again, so a policy that catches the first
    one cannot go on, and one that returns anyway is switched off all the same. (CPython drops
    a trace function that raises: a policy that catches that first exception then runs on
    untraced, so from then on a timer re-installs the count every 10 ms and raises; after 5 s
    of that the run ends with one line, as nothing in the process can stop such code.)"""
    steps, over, armed, nudges = 0, [""], [True], [0]

    def count(frame: object, event: str, arg: object) -> object:
        nonlocal steps
        if not armed[0]:
            return None
        steps += 1
        # (Not on an exception's way up: raising there would drop the count before the
        # handler's lines, which must raise again.)
        if steps > POLICY_STEPS and event in ("line", "call"):
            if not over[0]:
                over[0] = f"did not return within {POLICY_STEPS} Python steps"
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
            raise _OverBudget
        return count

    alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if alarm:
        def on_alarm(sig: int, frame: Any) -> None:
            if not armed[0]:
                return
            if not over[0]:
                over[0] = f"did not return within {POLICY_WALL_SECONDS:g} s of host time"
                signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
            nudges[0] += 1
            if nudges[0] > 500:
                sys.stderr.write(f"shoal: a policy {over[0]} and would not stop: the run is stopped\n")
                sys.stderr.flush()
                os._exit(1)
            f = frame
            while f is not None and f.f_code is not _BUDGETED_CODE:  # the policy's frames
                f.f_trace = count
                f = f.f_back
            sys.settrace(count)  # type: ignore[arg-type]
            raise _OverBudget
        prev = signal.signal(signal.SIGALRM, on_alarm)
        prev_timer = signal.setitimer(signal.ITIMER_REAL, POLICY_WALL_SECONDS)
    old = sys.gettrace()
    sys.settrace(count)  # type: ignore[arg-type]
    failed = ""
    try:
        try:
            out = fn()
        except (_OverBudget, KeyboardInterrupt, PolicyError):
            raise  # (the daemon's own checks; a Ctrl-C stops the run, as anywhere else)
        except BaseException as e:  # noqa: BLE001 - the policy's own, SystemExit included
            out, failed = None, _shown(e)  # (its text is the policy's code too: counted)
    except _OverBudget:
        out = None
    finally:
        armed[0] = False
        sys.settrace(old)
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, prev)
            if prev_timer[0] > 0:
                signal.setitimer(signal.ITIMER_REAL, *prev_timer)
    if over[0]:
        raise PolicyError(over[0])
    if failed:
        raise PolicyError(failed)
    return out


def _shown(e: BaseException) -> str:
    """What a policy raised as one short printable line, made inside the bound (a user's
    exception may have a __str__ that raises, loops, or gives something huge)."""
    try:
        name = type.__dict__["__name__"].__get__(type(e))
    except Exception:  # noqa: BLE001
        name = "exception"
    try:
        s = str(e)
        s = str.__str__(s)[:300]
    except (_OverBudget, KeyboardInterrupt):
        raise
    except BaseException:  # noqa: BLE001 - a user's object
        s = "<cannot be shown>"
    return f"{name}: " + "".join(ch if ch.isprintable() else "?" for ch in s)


_BUDGETED_CODE = budgeted.__code__
