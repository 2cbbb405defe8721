"""SHA-256 as hashlib gives it, without importing hashlib: hashlib loads OpenSSL (~4 ms of
every start), while CPython's own SHA-256 module is small. The same digests either way."""

try:
    from _sha2 import sha256  # CPython 3.12 and newer
except ImportError:
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        from hashlib import sha256

__all__ = ["sha256"]
