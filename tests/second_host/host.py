"""The second host's extensions and app factory, wired as docs/integration.md says."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_two_factor import TwoFactor
from flask_wtf.csrf import CSRFProtect

db = SQLAlchemy()
login_manager = LoginManager()
csrf = CSRFProtect()


def _check_password(user: Any, password: str) -> bool:
    return user.check_password(password)


def _is_admin(user: Any) -> bool:
    return bool(user.is_admin)


def _find_user(text: str) -> Any:
    from .models import find_user

    return find_user(text)


# Admins must turn 2FA on before they can use the app; everyone else may.
two_factor = TwoFactor(check_password=_check_password, find_user=_find_user, required=_is_admin)


def create_app(test_config: dict[str, Any] | None = None, template_folder: str = "templates") -> Flask:
    """Create the app; ``test_config`` overrides Config."""
    from .config import Config

    app = Flask(__name__, template_folder=template_folder)
    app.config.from_object(Config)
    app.config.from_mapping(test_config or {})
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "account.sign_in"

    from . import models, views

    login_manager.user_loader(models.load_user)
    two_factor.init_app(app)  # after Flask-Login, CSRFProtect, SQLAlchemy and the user loader
    app.register_blueprint(views.account)
    app.register_blueprint(views.pages)
    return app
