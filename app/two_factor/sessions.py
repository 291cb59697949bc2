"""Revocable sessions (S17): every signed-in session has a record, and a session whose record is gone is signed out.

Whatever the host's session backend (Flask's signed cookie by default, which the server cannot
revoke), ``login_user`` puts a random token in the session and a row keyed by its SHA-256 into
``two_factor_sessions``. How a missing record is detected: Flask-Login sends ``user_accessed`` at
the start of every user load, before it reads ``_user_id`` from the session or the remember cookie.
There we look the session's token up; if it names no record of that user, Flask-Login's keys are
taken out of the session, so it finds no one to load: the request is anonymous, exactly as after
a logout. A signal, not a wrapped ``user_loader``: it holds whenever and however the host registers
its loader, and the ``request_loader`` (API tokens, headers) is left alone, because it is not
session-based.

Remember-me: Flask-Login's remember cookie carries only the user id, so it could bring back a session
that was signed out. A login with ``remember=True`` therefore also gets our HttpOnly cookie
(``TWO_FACTOR_SESSION_COOKIE_NAME``) holding the record's token, with the remember cookie's lifetime
and flags; the remember cookie is followed only while that record exists, is a remember-me one,
belongs to the user the cookie names and is younger than REMEMBER_COOKIE_DURATION (Flask-Login's
cookie has no time of its own, so a copy would work forever). Otherwise both cookies are deleted.

Logging out (``user_logged_out``) deletes the record and both cookies, whatever the host then does
to the session: a plain ``logout_user()`` is enough. A new login first ends whatever session this
browser carried, so a previous user is never restored by a leftover cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request, session
from flask_login import logout_user, user_accessed, user_logged_in, user_logged_out
from flask_login.config import COOKIE_DURATION, COOKIE_NAME
from flask_login.utils import decode_cookie

from . import session_store
from .outcomes import PASSWORD, Client
from .session_store import METHOD_AFTER, Record

SESSION_KEY = "_two_factor_sid"
FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember_seconds")


@dataclass
class RequestState:
    """What the hooks know about the request under way (kept in ``flask.g``)."""

    record: Record | None = None  # the record that let this request in
    cookies: tuple[str, ...] = ()  # ("set", token) or ("clear",): the remember cookies in the response
    method: str = PASSWORD  # how the login under way signed in


def _request() -> RequestState:
    if "_two_factor_sessions" not in g:
        g._two_factor_sessions = RequestState()
    return g._two_factor_sessions


def install(app: Flask) -> None:
    """Connect the session hooks to ``app``'s Flask-Login signals and requests."""
    app.config.setdefault("TWO_FACTOR_SESSION_COOKIE_NAME", "two_factor_session")
    user_accessed.connect(_check, app, weak=False)
    user_logged_in.connect(_logged_in, app, weak=False)
    user_logged_out.connect(_logged_out, app, weak=False)
    app.after_request(_update_cookies)


# -- for the product's views ---------------------------------------------------------------------


def signing_in_with(factor: str | None) -> None:
    """Say how the login about to be made passed its second factor (``"totp"``, ``"backup_code"``…)."""
    _request().method = METHOD_AFTER.get(factor or "", PASSWORD)


def current_hash() -> str | None:
    """Return the token hash of this request's session, or None when it has none."""
    record = _request().record
    if record is not None:
        return record.token_hash
    token = session.get(SESSION_KEY)
    return session_store.hash_token(token) if isinstance(token, str) else None


def current_client() -> Client:
    """Return who made this request, for the audit trail: address, browser and session."""
    return Client(request.remote_addr, request.headers.get("User-Agent"), current_hash())


def current_id() -> str | None:
    """Return the id of the record that let this request in, or None."""
    record = _request().record
    return record.id if record is not None else None


def sign_out() -> None:
    """Sign the current user out: the session's contents, its record and the remember cookies."""
    # Cleared first: logout_user then leaves its marker that has Flask-Login delete the remember cookie.
    session.clear()
    logout_user()


# -- the hooks -----------------------------------------------------------------------------------


def _check(app: Flask, **extra: Any) -> None:
    """Before Flask-Login loads a user from the session or the remember cookie: only a live record's."""
    ext = app.extensions["two_factor"]
    user_id = session.get("_user_id")
    if user_id is not None:
        record = session_store.find(ext.db.session, session.get(SESSION_KEY))
        if record is not None and record.user_id == str(user_id):
            _let_in(ext, record)
            return
        # Signed out elsewhere, or a session from before records existed: nothing of it is trusted.
        for key in [key for key in session if key in FLASK_LOGIN_KEYS or key.startswith("_two_factor")]:
            session.pop(key)
    cookie = request.cookies.get(app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME))
    if cookie is not None and session.get("_remember") != "clear":
        _check_remembered(app, ext, cookie)


def _check_remembered(app: Flask, ext: Any, cookie: str) -> None:
    """Follow the remember cookie only to a live remember-me record of the user it names."""
    token = request.cookies.get(app.config["TWO_FACTOR_SESSION_COOKIE_NAME"])
    remembered_id = decode_cookie(cookie)
    record = session_store.find(ext.db.session, token) if remembered_id is not None else None
    if record is not None and record.remember and record.user_id == str(remembered_id) and _remembered(ext, record):
        session[SESSION_KEY] = token  # the session the cookie restores is that record's
        _let_in(ext, record)
        return
    # Flask-Login then skips the cookie (and deletes it); ours goes with it.
    session["_remember"] = "clear"
    _request().cookies = ("clear",)


def _remembered(ext: Any, record: Record) -> bool:
    """Return True while the remember cookie of ``record`` would still be alive in an honest browser.

    Flask-Login's cookie carries no time, so a copy of it would restore forever: the record bounds it
    to REMEMBER_COOKIE_DURATION after the login (after the last request, when the cookie is renewed on each).
    """
    config = current_app.config
    since = record.last_seen_at if config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST") else record.created_at
    return bool(ext.clock() < since + _remember_duration(current_app))


def _let_in(ext: Any, record: Record) -> None:
    _request().record = record
    now = ext.clock()
    if now - record.last_seen_at >= session_store.TOUCH_EVERY:
        # On a connection of its own: the host's transaction is none of our business, and must not
        # be committed by a page view.
        with ext.db.engine.begin() as connection:
            session_store.touch(connection, record, now, request.remote_addr)


def _logged_in(app: Flask, user: Any, **extra: Any) -> None:
    """Give the new session its record (committed now, so the next request finds it)."""
    ext = app.extensions["two_factor"]
    db_session, now = ext.db.session, ext.clock()
    user_id, current = str(user.get_id()), _request()
    token = session_store.new_token()
    remember = session.get("_remember") == "set"
    session_store.create(
        db_session,
        user_id,
        token,
        now,
        # Whatever session this browser carried can no longer be reached from it: ended, not left behind.
        replaced=_carried_hashes(app),
        unseen_since=now - _longest_life(app),
        ip_address=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        method=current.method,
        remember=remember,
    )
    db_session.commit()
    session[SESSION_KEY] = token
    current.record = Record("", user_id, session_store.hash_token(token), now, now, remember)
    if remember:
        current.cookies = ("set", token)
    else:
        # A previous login's remember-me must not outlive this one.
        current.cookies = ("clear",) if _carries_remember_cookies(app) else ()


def _logged_out(app: Flask, user: Any, **extra: Any) -> None:
    """End the session's record and its remember cookies, whatever the host does to the session next."""
    db_session = app.extensions["two_factor"].db.session
    session_store.end(db_session, _carried_hashes(app))
    db_session.commit()
    session.pop(SESSION_KEY, None)
    # Nothing of the ended session is current any more; how a login under way signed in still holds.
    g._two_factor_sessions = RequestState(cookies=("clear",), method=_request().method)


def _carried_hashes(app: Flask) -> set[str]:
    """Return the token hashes of every session this browser carries: its session's, and our cookie's."""
    record = _request().record
    tokens = [session.get(SESSION_KEY), request.cookies.get(app.config["TWO_FACTOR_SESSION_COOKIE_NAME"])]
    if tokens[0] is None:
        # A host may clear the session before it calls logout_user() or login_user(): the session as the
        # request brought it is read again, here (a login or a logout) rather than noted on every request.
        brought = app.session_interface.open_session(app, request)
        tokens.append(brought.get(SESSION_KEY) if brought is not None else None)
    hashes = {session_store.hash_token(token) for token in tokens if isinstance(token, str)}
    return hashes | ({record.token_hash} if record is not None else set())


def _carries_remember_cookies(app: Flask) -> bool:
    names = (app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME), app.config["TWO_FACTOR_SESSION_COOKIE_NAME"])
    return any(name in request.cookies for name in names)


# -- the cookies ---------------------------------------------------------------------------------


def _update_cookies(response: Response) -> Response:
    """Set our remember-me cookie beside Flask-Login's, or delete both."""
    current = g.get("_two_factor_sessions")
    if current is None:  # no user was loaded, no login or logout: nothing to do
        return response
    action, config = current.cookies, current_app.config
    if not action:
        record = current.record
        # Flask-Login renews its cookie on every request with this setting; ours keeps the same life.
        if record is not None and record.remember and config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"):
            token = session.get(SESSION_KEY)
            if isinstance(token, str):
                _set_session_cookie(response, token)
        return response
    if action[0] == "set":
        _set_session_cookie(response, action[1])
        return response
    options = _cookie_options()
    for name in (config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME), config["TWO_FACTOR_SESSION_COOKIE_NAME"]):
        if name in request.cookies:
            response.delete_cookie(name, **options)
    if session.get("_remember") == "clear":
        session.pop("_remember")  # deleted above with the cookie's flags; Flask-Login would repeat it without them
    return response


def _set_session_cookie(response: Response, token: str) -> None:
    seconds = session.get("_remember_seconds")
    life = timedelta(seconds=float(seconds)) if seconds is not None else _remember_duration(current_app)
    response.set_cookie(
        current_app.config["TWO_FACTOR_SESSION_COOKIE_NAME"], token, max_age=life, **_cookie_options()
    )


def _cookie_options() -> dict[str, Any]:
    """Return the flags of the remember cookie, HttpOnly always and Secure when either cookie setting asks."""
    config = current_app.config
    return {
        "domain": config.get("REMEMBER_COOKIE_DOMAIN"),
        "path": config.get("REMEMBER_COOKIE_PATH", "/"),
        "secure": bool(config.get("REMEMBER_COOKIE_SECURE") or config.get("SESSION_COOKIE_SECURE")),
        "httponly": True,
        "samesite": config.get("REMEMBER_COOKIE_SAMESITE") or "Lax",
    }


def _remember_duration(app: Flask) -> timedelta:
    duration = app.config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION)
    return duration if isinstance(duration, timedelta) else timedelta(seconds=int(duration))


def _longest_life(app: Flask) -> timedelta:
    """Return how long any cookie can carry a session: a record unseen for longer is dead."""
    return max(app.permanent_session_lifetime, _remember_duration(app))
