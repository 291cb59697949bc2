"""Configuration of the demo host from the environment, with dev keys kept under instance/."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

DEV_KEYS_FILE = "dev-keys.json"
# Without MAIL_SERVER the demo writes each mail to its log (app/mail_log.py), so scripts/run shows them.
LOG_MAIL_BACKEND = "app.mail_log.EmailBackend"


def dev_keys(instance_path: str) -> dict[str, str]:
    """Return dev SECRET_KEY and encryption key, generated once so restarts keep secrets readable."""
    path = Path(instance_path) / DEV_KEYS_FILE
    if not path.exists():
        keys = {"SECRET_KEY": secrets.token_urlsafe(32), "TWO_FACTOR_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written 0600 to a private temporary file, then linked into place: the key is never
        # world-readable, and of two processes starting at once the first link wins.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".dev-keys-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(keys, handle)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return json.loads(path.read_text())


def load(instance_path: str) -> dict[str, Any]:
    """Return the configuration: environment first, dev defaults for what it lacks."""
    env = os.environ
    needs_dev_keys = not env.get("SECRET_KEY") or not env.get("TWO_FACTOR_ENCRYPTION_KEYS")
    fallback = dev_keys(instance_path) if needs_dev_keys else {}
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or fallback["SECRET_KEY"],
        "TWO_FACTOR_ENCRYPTION_KEYS": env.get("TWO_FACTOR_ENCRYPTION_KEYS") or fallback["TWO_FACTOR_ENCRYPTION_KEYS"],
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL"), instance_path),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "TWO_FACTOR_ISSUER": "Flask 2FA Demo",
        "TWO_FACTOR_REMEMBER_DAYS": 30,  # "don't ask for a code on this browser" (S18)
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": True,
        "MAX_CONTENT_LENGTH": 64 * 1024,
        **mail_settings(env),
    }


def mail_settings(env: Any) -> dict[str, Any]:
    """Return Flask-Mailman's settings: SMTP to MAIL_SERVER, or without it every mail written to the log."""
    server = env.get("MAIL_SERVER")
    sender = env.get("MAIL_DEFAULT_SENDER", "Flask 2FA Demo <no-reply@localhost>")
    settings: dict[str, Any] = {"MAIL_DEFAULT_SENDER": sender}
    if not server:
        return {**settings, "MAIL_BACKEND": LOG_MAIL_BACKEND}
    return {**settings, "MAIL_BACKEND": "smtp", "MAIL_SERVER": server, "MAIL_PORT": int(env.get("MAIL_PORT") or 25)}


def database_url(value: str | None, instance_path: str) -> str:
    """Return a SQLAlchemy URL; plain postgres:// URLs get the psycopg 3 driver."""
    if not value:
        return f"sqlite:///{Path(instance_path) / 'app.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value
