"""Backup codes: generation, normalisation and keyed hashing; no Flask, no database."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# Crockford base32: no I, L, O or U, so codes survive being read aloud or written down.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# 24 × 5 = 120 bits: at 112 bits and more one keyed hash may stand in for a salted password hash
# (NIST SP 800-63B-4 §3.1.2.2, ASVS 5.0 6.5.2), which keeps the check O(1).
LENGTH = 24
# Codes issued before the 120-bit format (16 × 5 = 80 bits) work until the user makes new ones.
LEGACY_LENGTH = 16
GROUP = 4
COUNT = 10
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", "- ")
_CODE = re.compile(f"[{ALPHABET}]{{{LENGTH}}}|[{ALPHABET}]{{{LEGACY_LENGTH}}}")
_ASCII_LETTERS_AND_DIGITS = re.compile("[A-Za-z0-9]+", re.ASCII)


def new_code() -> str:
    """Return one fresh 120-bit code as six groups of four, ``XXXX-XXXX-XXXX-XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def new_codes(count: int = COUNT) -> list[str]:
    """Return ``count`` distinct fresh codes."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(new_code())
    return sorted(codes)


def normalize(raw: str) -> str | None:
    """Return the canonical characters of ``raw`` (24, or 16 for an older code), or None if it cannot be one."""
    compact = raw.translate(_SEPARATORS)
    # ASCII first: str.upper() maps some other letters onto ASCII ones ("ſ" becomes "S").
    if not _ASCII_LETTERS_AND_DIGITS.fullmatch(compact):
        return None
    candidate = compact.upper().translate(_CONFUSABLE)
    return candidate if _CODE.fullmatch(candidate) else None


def keyed_hash(key: bytes, normalized: str) -> str:
    """Return the hex HMAC-SHA256 of a normalised code under ``key``."""
    return hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()
