"""The TwoFactor extension: configuration, hooks, and the login challenge entry point."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, has_request_context
from flask_login import current_user
from sqlalchemy import MetaData
from sqlalchemy.types import TypeDecorator

from . import browsers, error_pages, i18n, notifications, protection, sessions
from .crypto import KeyRing, new_key
from .errors import GENERATE_KEY, ConfigurationError
from .login_flow import finish_password_step, start_challenge
from .models import tables
from .outcomes import Client, Policy, parse_code
from .state import State, state

DEFAULTS: dict[str, Any] = {
    "TWO_FACTOR_URL_PREFIX": "/2fa",
    "TWO_FACTOR_ISSUER": "Flask",
    "TWO_FACTOR_VALID_WINDOW": 1,
    "TWO_FACTOR_THROTTLE_MAX": 3600,
    "TWO_FACTOR_CHALLENGE_TTL": 300,
    # How long a re-authentication (or a completed login) allows changing factors (S16).
    "TWO_FACTOR_REAUTH_TTL": 900,
    # Password guesses at re-authentication, per account (only 2FA's codes have the S5 throttle).
    "TWO_FACTOR_REAUTH_RATE_LIMIT": "10 per minute",
    "TWO_FACTOR_RATE_LIMIT": "30 per minute",
    "TWO_FACTOR_LOGIN_REDIRECT": "/",
    "TWO_FACTOR_ENCRYPTION_KEYS": None,
    # Endpoints (fnmatch patterns) that the ``required`` option never blocks, besides the
    # blueprint's own routes and the login view.
    "TWO_FACTOR_ENFORCE_EXEMPT": ("static", "*.static", "login", "*.login", "logout", "*.logout"),
    # The layout every 2FA page extends; None means the host's base.html, else our own layout.
    "TWO_FACTOR_BASE_TEMPLATE": None,
    # The Content-Security-Policy of 2FA pages in the host's layout when the host sets none itself:
    # a string, a {directive: sources} dict, or None for no header (protection.HOST_LAYOUT_CSP).
    "TWO_FACTOR_CONTENT_SECURITY_POLICY": protection.HOST_LAYOUT_CSP,
    # Days a browser may skip the code after "don't ask again on this browser" (S18); 0 turns it off.
    "TWO_FACTOR_REMEMBER_DAYS": 0,
    # More directories with catalogs of the "flask_two_factor" domain (another language, other wording);
    # a later directory overrides an earlier one, ours come first.
    "TWO_FACTOR_TRANSLATION_DIRECTORIES": (),
}
log = logging.getLogger("flask_two_factor")
STANDALONE_LAYOUT = "two_factor/_layout.html"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _user_checks_password(user: Any, password: str) -> bool:
    """Verify a password with the user model's own method, the common Flask-Login convention."""
    method = getattr(user, "check_password", None)
    if not callable(method):
        raise ConfigurationError(
            f"{type(user).__name__} has no check_password(password) method: pass "
            "TwoFactor(check_password=callable(user, password) -> bool)."
        )
    return bool(method(password))


def _default_display_name(user: Any) -> str:
    for attribute in ("email", "username", "name"):
        value = getattr(user, attribute, None)
        if value:
            return str(value)
    return str(user.get_id())


class TwoFactor:
    """Adds TOTP two-factor authentication to a Flask-Login app.

    Every option is a keyword; none is required when the user model follows the conventions below:

    - ``db``: the host's Flask-SQLAlchemy object (default: the one bound to the app).
    - ``check_password(user, password) -> bool``: verify a password (re-authentication, disable and
      regenerate ask for it; default: the user model's own ``user.check_password(password)``).
    - ``load_user(user_id: str) -> user | None``: load a user by ``get_id()`` (default: Flask-Login's
      ``user_loader``).
    - ``display_name(user) -> str``: the account label in the authenticator app (default: the user's
      ``email``, ``username`` or ``name``, else the id).
    - ``find_user(text) -> user | None``: resolve the USER argument of ``flask two-factor`` (default:
      ``load_user``).
    - ``required(user) -> bool``: users for whom 2FA is mandatory (e.g. admins); while they have not
      enabled it, every page outside ``TWO_FACTOR_ENFORCE_EXEMPT`` sends them to the settings page.
    - ``limiter``: the host's Flask-Limiter (default: the app's, else a new one).
    - ``clock() -> datetime``: aware UTC now (tests freeze it).
    - ``notify(user, notice) -> None``: deliver a security notice (S19), a ``notifications.Notice`` with
      ``event``, ``user_id``, ``to``, ``subject``, ``text`` and ``html``; called after the change is
      committed, off the request thread, its exceptions logged and swallowed. Default: e-mail it with
      Flask-Mailman when the app has it (``app.extensions["mailman"]``) and ``to`` is set, else log at
      INFO that a notice was produced.
    - ``email_of(user) -> str | None``: the address notices go to (default: ``user.email`` if it has one).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: Any = None,
        check_password: Callable[[Any, str], bool] | None = None,
        load_user: Callable[[str], Any] | None = None,
        display_name: Callable[[Any], str] | None = None,
        find_user: Callable[[str], Any] | None = None,
        limiter: Any = None,
        clock: Callable[[], datetime] | None = None,
        required: Callable[[Any], bool] | None = None,
        notify: Callable[[Any, Any], None] | None = None,
        email_of: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.db = db
        self.check_password = check_password
        self.load_user = load_user
        self.display_name = display_name or _default_display_name
        self.find_user = find_user
        self.limiter = limiter
        self.clock = clock or _utcnow
        self.required = required
        self.notify = notify
        self.email_of = email_of
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Check prerequisites, register the blueprint, tables, rate limit and CLI."""
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        db = self.db if self.db is not None else app.extensions.get("sqlalchemy")
        load_user = self._require_prerequisites(app, db)
        keys = self._key_ring(app)
        _check_issuer(app.config["TWO_FACTOR_ISSUER"])
        _copy_tables(db.metadata)
        app.extensions["two_factor"] = State(
            db=db,
            keys=keys,
            policy=Policy(
                valid_window=int(app.config["TWO_FACTOR_VALID_WINDOW"]),
                throttle_max=int(app.config["TWO_FACTOR_THROTTLE_MAX"]),
                issuer=str(app.config["TWO_FACTOR_ISSUER"]),
            ),
            load_user=load_user,
            check_password=self.check_password or _user_checks_password,
            display_name=self.display_name,
            find_user=self.find_user or load_user,
            clock=self.clock,
            limiter=self._limiter(app),
            required=self.required,
            notify=self.notify or notifications.send_email,
            email_of=self.email_of or notifications.default_email_of,
        )
        from . import cli, enforce, reauth, session_panel, views

        i18n.install(app)
        app.register_blueprint(views.blueprint, url_prefix=app.config["TWO_FACTOR_URL_PREFIX"])
        _limit_posts(app.extensions["two_factor"].limiter, views.blueprint)
        reauth.install(app)
        protection.install(app)
        error_pages.install(app)
        sessions.install(app)
        browsers.install(app)
        notifications.install(app)
        app.cli.add_command(cli.two_factor_cli)
        # two_factor/base.html picks its layout, and says why a user was sent to set up 2FA, with these.
        app.jinja_env.globals["two_factor_base_template"] = base_template
        app.jinja_env.globals["two_factor_setup_required"] = enforce.needs_setup
        app.jinja_env.globals["two_factor_sessions"] = session_panel.listed
        app.jinja_env.globals["two_factor_browsers"] = session_panel.listed_browsers
        if self.required is not None:
            app.before_request(enforce.enforce_required)

    def _require_prerequisites(self, app: Flask, db: Any) -> Callable[[str], Any]:
        """Fail at start-up, not at the first request, when the host lacks a prerequisite."""
        login_manager = getattr(app, "login_manager", None)
        if login_manager is None:
            raise ConfigurationError("TwoFactor needs Flask-Login: call LoginManager.init_app(app) first.")
        if db is None:
            raise ConfigurationError("TwoFactor needs Flask-SQLAlchemy: pass db= or call db.init_app(app) first.")
        if self.check_password is not None and not callable(self.check_password):
            raise ConfigurationError("TwoFactor's check_password= must be a callable(user, password) -> bool.")
        if self.required is not None and not callable(self.required):
            raise ConfigurationError("TwoFactor's required= must be a callable(user) -> bool.")
        for name in ("notify", "email_of"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ConfigurationError(f"TwoFactor's {name}= must be a callable.")
        load_user = self.load_user or login_manager._user_callback
        if load_user is None:
            raise ConfigurationError(
                "TwoFactor needs a way to load users: pass load_user= or register "
                "@login_manager.user_loader before init_app."
            )
        return load_user

    @staticmethod
    def _key_ring(app: Flask) -> KeyRing:
        keys = app.config["TWO_FACTOR_ENCRYPTION_KEYS"]
        if not keys and app.testing:
            # A host's test suite runs without a key of its own; nothing it stores outlives the run.
            keys = app.config["TWO_FACTOR_ENCRYPTION_KEYS"] = new_key()
            log.warning(
                "TWO_FACTOR_ENCRYPTION_KEYS is not set: using an ephemeral key because TESTING is on. "
                "Outside tests this is an error; secrets encrypted with it are unreadable after a restart."
            )
        if not keys:
            raise ConfigurationError(
                f"TWO_FACTOR_ENCRYPTION_KEYS is not set: give one or more Fernet keys, newest first ({GENERATE_KEY})."
            )
        return KeyRing(keys)

    def _limiter(self, app: Flask) -> Any:
        """Use the host's Flask-Limiter when it has one, else start our own."""
        if self.limiter is not None:
            return self.limiter
        existing = app.extensions.get("limiter")
        if existing:
            return next(iter(existing))
        from flask_limiter import Limiter
        from flask_limiter.util import get_remote_address

        limiter = Limiter(get_remote_address)
        limiter.init_app(app)
        return limiter

    # -- for the host's views --------------------------------------------------------------

    def is_enabled(self, user: Any) -> bool:
        """Return True if ``user`` has confirmed 2FA and must pass the challenge at login."""
        return state().service().is_enabled(str(user.get_id()))

    def forget(self, user: Any) -> None:
        """Delete the 2FA data and sessions of a user (or user id) the host is deleting, in the host's transaction.

        Call it before committing the deletion of the account: ids may be reused (SQLite reuses the
        highest integer id), and a new account must never inherit an old secret or codes.
        """
        user_id = user if isinstance(user, str | int) else user.get_id()
        state().service().forget(str(user_id))

    def end_other_sessions(self, user: Any) -> int:
        """Sign a user (or user id) out everywhere else, e.g. after a password change; return how many ended.

        In a request of that user the current session stays signed in; anywhere else (a command, an
        administrator's request) every session of the user ends. Commits the database session.
        """
        user_id = str(user if isinstance(user, str | int) else user.get_id())
        keep = None
        if has_request_context() and current_user.is_authenticated and str(current_user.get_id()) == user_id:
            keep = sessions.current_hash()
        return state().service().end_other_sessions(user_id, keep)

    def verify_code(self, user: Any, code: str | None) -> bool:
        """Check a code (from the app, or a backup code) for an entry point that takes a password alone.

        For an API token endpoint or a CLI that checks a password: a user with 2FA on must also give a
        code, judged as at the login challenge (replay guard, the sign-in throttle, audited). False for
        a wrong, reused, malformed or throttled code.
        """
        parsed = parse_code(code or "")
        if parsed is None:
            return False
        client = sessions.current_client() if has_request_context() else Client()
        return state().service().check_login(str(user.get_id()), parsed, state().clock(), client).ok

    def login(self, user: Any, *, remember: bool = False, next_url: str | None = None) -> Any:
        """After a correct password, in one call: return the response that starts the challenge or signs in.

        With 2FA on, a 303 to the challenge (``next_url`` and ``remember`` are kept for after the code);
        otherwise the user is logged in (``login_user``) and sent to ``next_url`` when it is a path of
        this site, else ``TWO_FACTOR_LOGIN_REDIRECT``. JSON clients get ``{"ok": true, "twoFactorRequired": bool}``.
        """
        return finish_password_step(user, remember, next_url)

    def start_challenge(self, user: Any, next_url: str | None = None, remember: bool = False) -> str | None:
        """After a correct password: return the challenge URL to redirect to, or None if 2FA is off.

        When a URL is returned the user is *not* logged in; only a pending record (user id,
        issued at) is kept in the session until the code is checked. None also when this browser is
        remembered for this user (S18): the code is skipped (audited), the password was asked.
        """
        return start_challenge(user, next_url, remember)


def _check_issuer(issuer: object) -> None:
    """Refuse an issuer the otpauth label cannot carry."""
    if ":" in str(issuer):
        raise ConfigurationError(
            "TWO_FACTOR_ISSUER must not contain ':' "
            "(authenticator apps read it as the separator between issuer and account)."
        )


def _copy_tables(metadata: MetaData) -> None:
    """Copy the product's tables into the host's metadata, so create_all and Alembic see them.

    The copies are used only for DDL (the product maps its own tables), so they carry the plain types
    the database stores: an autogenerated revision then needs ``sa`` alone, no import of this package.
    """
    for table in tables:
        if table.name in metadata.tables:
            continue
        copy = table.to_metadata(metadata)
        for column in copy.columns:
            if isinstance(column.type, TypeDecorator):
                column.type = column.type.impl_instance


def base_template() -> Any:
    """Return the layout two_factor/base.html extends: the configured one, the host's base.html, or ours."""
    configured = current_app.config["TWO_FACTOR_BASE_TEMPLATE"]
    template = current_app.jinja_env.get_or_select_template(configured or ["base.html", STANDALONE_LAYOUT])
    if template.name != STANDALONE_LAYOUT:
        protection.used_host_layout()
    return template


def _limit_posts(limiter: Any, blueprint: Any) -> None:
    """Put one per-IP budget (TWO_FACTOR_RATE_LIMIT) on all the blueprint's POSTs together, once per limiter.

    Shared, not per endpoint: otherwise each of validate, disable, backup-codes… would add its own budget.
    """
    if getattr(limiter, "_two_factor_limited", False):
        return
    limit = limiter.shared_limit(
        lambda: str(current_app.config["TWO_FACTOR_RATE_LIMIT"]), scope="two-factor", methods=["POST"]
    )
    limit(blueprint)
    limiter._two_factor_limited = True
