"""Errors that reach the user as one clear line (never a traceback)."""


class ShoalError(Exception):
    """Bad input from a user: a bad chip file, a bad ELF, a bad option."""


class HostLimit(Exception):
    """The host cannot emulate what was asked under its own limits (a `ulimit -v`): the run
    stops in one line. Not a ShoalError, so no kernel turns it into a guest's errno: what a
    guest computes never depends on the host."""
