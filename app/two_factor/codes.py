"""Backup codes: generation, normalisation and keyed hashing; no Flask, no database."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# Crockford base32: no I, L, O or U, so codes survive being read aloud or written down.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16  # 16 × 5 bits = 80 bits
COUNT = 10
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_CODE = re.compile(f"[{ALPHABET}]{{{LENGTH}}}", re.ASCII)


def new_code() -> str:
    """Return one fresh 80-bit code as ``XXXX-XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def new_codes(count: int = COUNT) -> list[str]:
    """Return ``count`` distinct fresh codes."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(new_code())
    return sorted(codes)


def normalize(raw: str) -> str | None:
    """Return the canonical 16 characters of ``raw``, or None if it cannot be a backup code."""
    candidate = raw.replace("-", "").replace(" ", "").upper().translate(_CONFUSABLE)
    return candidate if _CODE.fullmatch(candidate) else None


def keyed_hash(key: bytes, normalized: str) -> str:
    """Return the hex HMAC-SHA256 of a normalised code under ``key``."""
    return hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()
