"""The second host's configuration, from the environment like most existing apps."""

from __future__ import annotations

import os


class Config:
    """Settings; tests override them with a mapping."""

    SECRET_KEY = os.environ.get("SECRET_KEY", "second-host-dev-key")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "sqlite:///second-host.db")
    PASSWORD_HASH_METHOD = "scrypt"
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    TWO_FACTOR_ENCRYPTION_KEYS = os.environ.get("TWO_FACTOR_ENCRYPTION_KEYS")
    TWO_FACTOR_ISSUER = "Ledger"
    TWO_FACTOR_LOGIN_REDIRECT = "/"
    # The host's sign-out endpoint is not called "logout", so it joins the default allow-list.
    TWO_FACTOR_ENFORCE_EXEMPT = ("static", "*.static", "account.sign_out")
