"""Errors that reach the user as one clear line (never a traceback)."""


class ShoalError(Exception):
    """Bad input from a user: a bad chip file, a bad ELF, a bad option."""
