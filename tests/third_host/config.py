"""Configuration from the environment, as microblog's config.py."""

from __future__ import annotations

import os


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or "you-will-never-guess"
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or "sqlite:///app.db"
    TWO_FACTOR_ENCRYPTION_KEYS = os.environ.get("TWO_FACTOR_ENCRYPTION_KEYS")  # 2FA
    TWO_FACTOR_ISSUER = "Microblog"  # 2FA
