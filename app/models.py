"""The demo host's user."""

from __future__ import annotations

import uuid

from flask_login import UserMixin
from passlib.context import CryptContext
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

passwords = CryptContext(schemes=["argon2"])


class User(UserMixin, db.Model):
    """A demo user: a name, an argon2 password hash and an optional address for security notices."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # flask_two_factor mails its notices (S19) to ``user.email`` by default.
    email: Mapped[str | None] = mapped_column(String(254))

    def set_password(self, password: str) -> None:
        self.password_hash = passwords.hash(password)

    def check_password(self, password: str) -> bool:
        return passwords.verify(password, self.password_hash)


def find_user(username: str) -> User | None:
    """Return the user with this username (ids are the user_loader's: ``flask two-factor`` asks both)."""
    return db.session.scalar(db.select(User).filter_by(username=username))
