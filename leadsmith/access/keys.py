"""API keys: ``lsk_`` + 30 base62 characters of randomness (~178 bits) + a 6-character CRC-32 checksum.

The checksum lets a mistyped key be told apart from an unknown one without touching the database.
Only the SHA-256 of a key is ever stored.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from dataclasses import dataclass

PREFIX = "lsk_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_LEN = 30
_CHECK_LEN = 6
KEY_LEN = len(PREFIX) + _RANDOM_LEN + _CHECK_LEN
DISPLAY_LEN = len(PREFIX) + 8


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    prefix: str
    hash: str


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECK_LEN)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> NewKey:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LEN))
    key = f"{PREFIX}{body}{_checksum(body)}"
    return NewKey(key=key, prefix=key[:DISPLAY_LEN], hash=hash_key(key))


def well_formed(key: str) -> bool:
    """Shape and checksum only: no I/O."""
    if len(key) != KEY_LEN or not key.startswith(PREFIX):
        return False
    body, check = key[len(PREFIX) : -_CHECK_LEN], key[-_CHECK_LEN:]
    if any(ch not in _ALPHABET for ch in body):
        return False
    return secrets.compare_digest(_checksum(body), check)
