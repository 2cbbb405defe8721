"""shoal: a distributed OS for lightweight manycores, on an emulated MPPA-256-like chip."""

from shoal.engine import Chip, Process
from shoal.errors import ShoalError
from shoal.spec import ChipSpec

__all__ = ["Chip", "ChipSpec", "Process", "ShoalError"]
__version__ = "0.1.0"
