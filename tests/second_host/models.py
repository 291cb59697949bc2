"""The second host's accounts: INTEGER ids, e-mail sign-in, werkzeug password hashes."""

from __future__ import annotations

from flask import current_app
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from .host import db


class User(UserMixin, db.Model):
    """An account of the existing app; nothing about 2FA is added to it."""

    __tablename__ = "accounts"

    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(255), unique=True, nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


def add_user(email: str, password: str, is_admin: bool = False) -> User:
    """Create and commit an account."""
    user = User(email=email, is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def load_user(user_id: str) -> User | None:
    """Flask-Login's user loader: ids arrive as strings and are integers here."""
    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None


def find_user(text: str) -> User | None:
    """Resolve the USER argument of ``flask two-factor``: an e-mail address or an id."""
    return db.session.execute(db.select(User).filter_by(email=text)).scalar_one_or_none() or load_user(text)
