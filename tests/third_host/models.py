"""The host's user: integer ids, werkzeug password hashes, an API token."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from . import db, login


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True, unique=True)
    email: Mapped[str] = mapped_column(sa.String(120), index=True, unique=True)
    about_me: Mapped[str | None] = mapped_column(sa.String(140))
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    token: Mapped[str | None] = mapped_column(sa.String(32), index=True, unique=True)
    token_expiration: Mapped[datetime | None]

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return self.password_hash is not None and check_password_hash(self.password_hash, password)

    def get_token(self, expires_in: int = 3600) -> str:
        now = datetime.now(UTC).replace(tzinfo=None)
        if self.token and self.token_expiration and self.token_expiration > now + timedelta(seconds=60):
            return self.token
        self.token = secrets.token_hex(16)
        self.token_expiration = now + timedelta(seconds=expires_in)
        db.session.add(self)
        return self.token

    @staticmethod
    def check_token(token: str) -> User | None:
        user = db.session.scalar(sa.select(User).where(User.token == token))
        if user is None or user.token_expiration < datetime.now(UTC).replace(tzinfo=None):
            return None
        return user

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "username": self.username, "about_me": self.about_me}


@login.user_loader
def load_user(id: str) -> User | None:
    return db.session.get(User, int(id))
