"""SHA-256, from hashlib (public API; CPython's private _sha2 module saved ~4 ms of a start,
not worth leaning on an internal)."""

from hashlib import sha256

__all__ = ["sha256"]
