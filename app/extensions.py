"""Extension objects of the demo host, bound to an app in create_app."""

from __future__ import annotations

from typing import Any

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from .two_factor import TwoFactor


class Base(DeclarativeBase):
    """Declarative base of the demo host's models."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(get_remote_address)
mail = Mail()
babel = Babel()


def _check_password(user: Any, password: str) -> bool:
    return bool(user.check_password(password))


def _find_user(identifier: str) -> Any:
    from .models import find_user

    return find_user(identifier)


two_factor = TwoFactor(db=db, check_password=_check_password, find_user=_find_user, limiter=limiter)
