"""Secret encryption at rest (MultiFernet) and the keys for hashing backup codes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import GENERATE_KEY, InvalidKeyConfig, KeyMaterialError, SecretUnreadable

__all__ = ["CodeKey", "InvalidKeyConfig", "KeyMaterialError", "KeyRing", "SecretUnreadable", "new_key", "parse_keys"]

_CODE_KEY_INFO = b"flask-two-factor/backup-code-hmac/v1"


@dataclass(frozen=True)
class CodeKey:
    """One HMAC key for backup codes and a short public id for it."""

    key_id: str
    key: bytes


def parse_keys(value: str | Iterable[str]) -> list[str]:
    """Return the keys of a comma-separated string or a list, newest first."""
    items = value.split(",") if isinstance(value, str) else list(value)
    keys = [item.strip() for item in items if item and item.strip()]
    if not keys:
        raise InvalidKeyConfig(f"TWO_FACTOR_ENCRYPTION_KEYS is empty; generate a key with: {GENERATE_KEY}")
    return keys


def new_key() -> str:
    """Return a fresh Fernet key."""
    return Fernet.generate_key().decode("ascii")


class KeyRing:
    """Encrypts secrets under the newest key, reads them under any, and derives code keys."""

    def __init__(self, keys: str | Iterable[str]) -> None:
        raw = parse_keys(keys)
        try:
            fernets = [Fernet(key.encode("ascii")) for key in raw]
        except (ValueError, UnicodeEncodeError):
            # The message never repeats the value: it is secret.
            raise InvalidKeyConfig(
                "TWO_FACTOR_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                f"(32 url-safe base64-encoded bytes); generate one with: {GENERATE_KEY}"
            ) from None
        self._multi = MultiFernet(fernets)
        self.code_keys = [_derive_code_key(key) for key in raw]

    @property
    def newest_code_key(self) -> CodeKey:
        """Return the code key new backup codes are hashed with."""
        return self.code_keys[0]

    def encrypt(self, plaintext: str) -> str:
        """Return a token of ``plaintext`` under the newest key."""
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the plaintext of ``token``; raise SecretUnreadable if no key opens it."""
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable("A stored secret cannot be read with the configured keys.") from None

    def rotate(self, token: str) -> str:
        """Return ``token`` re-encrypted under the newest key."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable("A stored secret cannot be read with the configured keys.") from None


def _derive_code_key(fernet_key: str) -> CodeKey:
    """Derive a backup-code HMAC key from one Fernet key, so no extra secret must be managed."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CODE_KEY_INFO).derive(
        fernet_key.encode("ascii")
    )
    return CodeKey(key_id=hashlib.sha256(b"key-id:" + key).hexdigest()[:12], key=key)
