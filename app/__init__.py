"""The demo host app: register, log in, log out, a home page, and the 2FA blueprint, in English and German."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, has_request_context, request
from flask_babel import lazy_gettext

from . import config

ROOT = Path(__file__).resolve().parent.parent
# The demo's languages, first the default. Its locale selector is the product's too: the host's wins.
LANGUAGES = ["en", "de"]
CATALOGS = Path(__file__).resolve().parent / "translations"  # domain "messages"; the product has its own


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the demo app; ``test_config`` overrides the environment's configuration."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    if test_config is None:
        app.config.from_mapping(config.load(app.instance_path))
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = not app.debug
        # The environment is applied last, so FLASK_* variables win over every default.
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)
    _configure_logging(app)
    _init_extensions(app)

    from . import auth, cli, errors

    app.register_blueprint(auth.blueprint)
    app.cli.add_command(cli.create_user)
    app.after_request(_security_headers)
    errors.register(app)
    return app


def select_language() -> str | None:
    """Return the best match of the browser's Accept-Language among the demo's languages."""
    if not has_request_context():
        return None  # the app's default (a command, a mail thread without a captured language)
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0])


def _init_extensions(app: Flask) -> None:
    from .extensions import babel, csrf, db, limiter, login_manager, mail, migrate, two_factor
    from .models import User

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Sign in to see that page.")
    login_manager.login_message_category = "info"
    # Flashed as a plain string (the session cannot hold a lazy one), in the request's language.
    login_manager.localize_callback = str
    csrf.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)  # flask_two_factor finds it in app.extensions["mailman"] and mails its notices

    # Before two_factor: the product keeps a host's Babel and its locale selector.
    babel.init_app(app, locale_selector=select_language, default_translation_directories=str(CATALOGS))

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, user_id)

    two_factor.init_app(app)


def _security_headers(response: Response) -> Response:
    from .two_factor.helpers import add_security_headers

    return add_security_headers(response)


def _configure_logging(app: Flask) -> None:
    """Log to stderr at INFO unless the host process configured logging already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.logger.setLevel(logging.INFO)
