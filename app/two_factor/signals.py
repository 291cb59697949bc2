"""Blinker signals a host connects to, e.g. to e-mail the user; every one is sent with ``user_id``."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: 2FA became active. Keyword arguments: ``user_id``.
two_factor_enabled = _signals.signal("two-factor-enabled")
#: 2FA was turned off. Keyword arguments: ``user_id``, ``by`` (``"user"`` or ``"admin"``).
two_factor_disabled = _signals.signal("two-factor-disabled")
#: A judged code or password was wrong. Keyword arguments: ``user_id``, ``purpose``, ``failures``, ``scope``.
two_factor_failed = _signals.signal("two-factor-failed")
#: A throttle scope locked after too many failures. Keyword arguments: ``user_id``, ``scope``.
two_factor_locked = _signals.signal("two-factor-locked")
#: A backup code was consumed. Keyword arguments: ``user_id``, ``purpose``, ``remaining``.
backup_code_used = _signals.signal("backup-code-used")
#: A fresh set of backup codes replaced the old one. Keyword arguments: ``user_id``.
backup_codes_regenerated = _signals.signal("backup-codes-regenerated")
#: A browser will skip the code at sign-in (S18). Keyword arguments: ``user_id``, ``days``.
browser_remembered = _signals.signal("browser-remembered")
#: A new authenticator app took over from the old one (the backup codes stay). Keyword arguments: ``user_id``.
authenticator_replaced = _signals.signal("authenticator-replaced")

__all__ = [
    "authenticator_replaced",
    "backup_code_used",
    "backup_codes_regenerated",
    "browser_remembered",
    "two_factor_disabled",
    "two_factor_enabled",
    "two_factor_failed",
    "two_factor_locked",
]
