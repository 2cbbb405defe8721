"""shoal: a distributed OS for lightweight manycores, on an emulated MPPA-256-like chip."""

from shoal.platform import unicorn_build

# Before anything imports the Unicorn binding: it then loads shoal's own library directly
# when that is built (platform/unicorn_build.py), not the stock one first.
unicorn_build.preload()

from shoal.engine import Chip, Process  # noqa: E402
from shoal.errors import ShoalError  # noqa: E402
from shoal.spec import ChipSpec  # noqa: E402

__all__ = ["Chip", "ChipSpec", "Process", "ShoalError"]
__version__ = "0.1.0"
