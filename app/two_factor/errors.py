"""The product's exceptions; none ever carries key material, a secret or a code in its message."""

from __future__ import annotations

GENERATE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class ConfigurationError(RuntimeError):
    """The host app lacks something the extension needs; raised at start-up by ``init_app``."""


class KeyMaterialError(Exception):
    """Base for problems with the encryption keys."""


class InvalidKeyConfig(KeyMaterialError, ConfigurationError):
    """The configured key list is empty or malformed (also a ConfigurationError: it stops start-up)."""


class SecretUnreadable(KeyMaterialError):
    """A stored secret cannot be decrypted with any configured key."""
