"""TOTP two-factor authentication for Flask-Login apps: an extension, a blueprint and a JSON API."""

from __future__ import annotations

from .crypto import InvalidKeyConfig, SecretUnreadable
from .extension import ConfigurationError, TwoFactor
from .signals import (
    backup_code_used,
    backup_codes_regenerated,
    two_factor_disabled,
    two_factor_enabled,
    two_factor_failed,
    two_factor_locked,
)

__all__ = [
    "ConfigurationError",
    "InvalidKeyConfig",
    "SecretUnreadable",
    "TwoFactor",
    "backup_code_used",
    "backup_codes_regenerated",
    "two_factor_disabled",
    "two_factor_enabled",
    "two_factor_failed",
    "two_factor_locked",
]
