"""A third host shaped like Miguel Grinberg's microblog: FlaskForm CSRF only, Bootstrap from a CDN, a token API.

Wired for 2FA by following docs/integration.md alone. Each host line written or changed for it ends
with a ``2FA`` comment (in templates too), so ``grep -rn 2FA tests/third_host`` shows the whole change;
the login view also lost microblog's own ``login_user`` call and ``next`` check (``two_factor.login``
does both).
"""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_two_factor import TwoFactor  # 2FA

from .config import Config

db = SQLAlchemy()
login = LoginManager()
login.login_view = "auth.login"
two_factor = TwoFactor(check_password=lambda user, password: user.check_password(password))  # 2FA


def create_app(config_class: type = Config, **overrides: object) -> Flask:
    """Create the app, microblog style: extensions first, then the blueprints."""
    app = Flask(__name__)
    app.config.from_object(config_class)
    app.config.update(overrides)
    db.init_app(app)
    login.init_app(app)

    from . import models  # noqa: F401  (the user_loader)
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .main import bp as main_bp

    two_factor.init_app(app)  # 2FA
    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(api_bp, url_prefix="/api")
    return app
