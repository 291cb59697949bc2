"""TOTP two-factor authentication for Flask-Login apps: an extension, a blueprint and a JSON API.

Installed as ``flask_two_factor``; docs/integration.md walks through adopting it. The public API:

- ``TwoFactor(app=None, *, check_password, db=None, load_user=None, display_name=None, find_user=None,
  required=None, limiter=None, clock=None)`` and ``TwoFactor.init_app(app)``: checks the prerequisites
  (Flask-Login, Flask-SQLAlchemy, a user loader, ``TWO_FACTOR_ENCRYPTION_KEYS``) and
  raises ``ConfigurationError`` (its subclass ``InvalidKeyConfig`` for a malformed key) at start-up
  when one is missing; registers the blueprint under ``TWO_FACTOR_URL_PREFIX`` (default ``/2fa``),
  the tables, and ``flask two-factor``.
- ``two_factor.login(user, remember=False, next_url=None)``: return it from the login view once the
  password is checked: the challenge when 2FA is on, else the user is logged in and redirected.
- ``two_factor.start_challenge(user, next_url=None, remember=False)``: the same step, keeping your own
  response: the challenge URL to redirect to, or None when 2FA is off (log the user in as usual then).
- ``two_factor.verify_code(user, code)``: for entry points that take a password alone (an API token,
  a CLI), check a code as the challenge does.
- ``two_factor.end_other_sessions(user)``: after a password change, sign the user out everywhere else.
- ``two_factor.is_enabled(user)``: True once the user has confirmed 2FA.
- ``two_factor.forget(user)``: when deleting an account, stage the deletion of its secret, codes and
  attempts in the host's session (committed with the account), so a reused id inherits nothing.
- ``required=callable(user) -> bool`` and ``@two_factor_required``: make 2FA mandatory for chosen users
  or views; such a user is sent to the settings page (JSON clients: 403 with ``setupUrl``) until enabled.
- Signals (blinker), every one sent with the app as sender and ``user_id`` (a string) — see signals.py:
  ``two_factor_enabled``, ``two_factor_disabled`` (``by``), ``two_factor_failed`` (``purpose``,
  ``failures``, ``scope``), ``two_factor_locked`` (``scope``), ``backup_code_used`` (``purpose``,
  ``remaining``), ``backup_codes_regenerated``.
- ``notify=callable(user, notice)`` and ``email_of=callable(user) -> str | None``: security notices
  (``notifications.Notice``), mailed with Flask-Mailman by default when the app has it; see notifications.py.
- ``flask_two_factor.testing``: ``enable(user)`` and ``current_code(user)`` for a host's test suite.
"""

from __future__ import annotations

from .enforce import two_factor_required
from .errors import ConfigurationError, InvalidKeyConfig, SecretUnreadable
from .extension import TwoFactor
from .signals import (
    backup_code_used,
    backup_codes_regenerated,
    browser_remembered,
    two_factor_disabled,
    two_factor_enabled,
    two_factor_failed,
    two_factor_locked,
)

__version__ = "0.2.0"  # the one place the version is written: pyproject.toml reads it ([tool.hatch.version])

__all__ = [
    "ConfigurationError",
    "InvalidKeyConfig",
    "SecretUnreadable",
    "TwoFactor",
    "backup_code_used",
    "backup_codes_regenerated",
    "browser_remembered",
    "two_factor_disabled",
    "two_factor_enabled",
    "two_factor_failed",
    "two_factor_locked",
    "two_factor_required",
]
