"""shoal: a distributed OS for lightweight manycores, on an emulated MPPA-256-like chip."""

import gc

from shoal import _interrupt

_interrupt.install()  # the command's start: a Ctrl-C is one line (shoal/_interrupt.py)

from shoal import _bytecode  # noqa: E402

_bytecode.install()

from shoal import _compiled  # noqa: E402

_compiled.install()  # the hot modules as C extensions, when they can be built (shoal/_compiled.py)

# Importing shoal creates some 30 dataclasses and many objects; the cyclic garbage collector
# would walk them over and over while there is nothing to collect (~15% of the imports' time).
_gc_was_on = gc.isenabled()
gc.disable()
try:
    from shoal.platform import unicorn_build

    # Before anything imports the Unicorn binding: it then loads shoal's own library
    # directly when that is built (platform/unicorn_build.py), not the stock one first.
    unicorn_build.preload()

    from shoal.api import Chip, Process
    from shoal.errors import ShoalError
    from shoal.spec import ChipSpec
finally:
    if _gc_was_on:
        gc.enable()

__all__ = ["Chip", "ChipSpec", "Process", "ShoalError"]
__version__ = "0.1.0"
