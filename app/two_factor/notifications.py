"""Security notices (S19): tell the user, outside the session, when their second factor changes.

Each event the service announces (its signals, sent only after the change is committed) and a
sign-in from a browser not seen before becomes a ``Notice``: a subject, a plain-text and an HTML
body rendered from the overridable templates under ``two_factor/mail/``. The host's ``notify(user,
notice)`` hook delivers it; the default e-mails it through Flask-Mailman when the host has it and the
user has an address, else it only logs that a notice was produced.

Delivery never blocks or fails the request: it runs after the commit, on a small thread of its own
(``TWO_FACTOR_NOTIFY_IN_BACKGROUND``, default on), and every exception is caught and logged by its
class alone. A notice never carries a code, a secret, a password or a link that signs in.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_request_context, render_template, request
from flask_babel import force_locale, get_locale
from sqlalchemy import func, select

from . import i18n, signals
from .models import TwoFactorAttempt

log = logging.getLogger("flask_two_factor")

ENABLED, DISABLED, REGENERATED = "enabled", "disabled", "backup_codes_regenerated"
BACKUP_CODE_USED, LOCKED, NEW_BROWSER = "backup_code_used", "locked", "new_browser"
BROWSER_REMEMBERED, REPLACED = "browser_remembered", "authenticator_replaced"
EVENTS = (ENABLED, DISABLED, REGENERATED, BACKUP_CODE_USED, LOCKED, NEW_BROWSER, BROWSER_REMEMBERED, REPLACED)
# At or under this many unused backup codes the notice says the user is running low.
LOW_ON_CODES = 3
# A backup code spent on turning 2FA off or on new codes: that change's own notice says it all.
_PURPOSES_WITHOUT_NOTICE = ("disable", "regenerate")
_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


@dataclass(frozen=True)
class Notice:
    """One composed notice, handed to the host's ``notify(user, notice)`` hook."""

    event: str  # one of EVENTS
    user_id: str
    to: str | None  # the user's e-mail address, or None when the host knows none
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Occasion:
    """What the request that caused a notice knew: taken before the work leaves the request."""

    event: str
    user_id: str
    when: datetime
    ip_address: str | None = None
    user_agent: str | None = None
    settings_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    language: str | None = None  # the request's locale ("de", "pt_BR"); None: the app's default


def install(app: Flask) -> None:
    """Turn the product's signals from ``app`` into notices."""
    app.config.setdefault("TWO_FACTOR_NOTIFY_IN_BACKGROUND", True)
    receivers: dict[Any, Callable[..., None]] = {
        signals.two_factor_enabled: lambda sender, user_id, **kw: _queue(sender, ENABLED, user_id, {}),
        signals.two_factor_disabled: lambda sender, user_id, by="user", **kw: _queue(
            sender, DISABLED, user_id, {"by": by}
        ),
        signals.backup_codes_regenerated: lambda sender, user_id, **kw: _queue(sender, REGENERATED, user_id, {}),
        signals.backup_code_used: _on_backup_code_used,
        signals.two_factor_locked: lambda sender, user_id, scope, **kw: _queue(
            sender, LOCKED, user_id, {"scope": scope}
        ),
        signals.browser_remembered: lambda sender, user_id, days, **kw: _queue(
            sender, BROWSER_REMEMBERED, user_id, {"days": days}
        ),
        signals.authenticator_replaced: lambda sender, user_id, **kw: _queue(sender, REPLACED, user_id, {}),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, app, weak=False)


def _on_backup_code_used(sender: Flask, user_id: str, purpose: str, remaining: int, **extra: Any) -> None:
    if purpose not in _PURPOSES_WITHOUT_NOTICE:
        _queue(sender, BACKUP_CODE_USED, user_id, {"remaining": remaining, "purpose": purpose})


def signed_in(user_id: str) -> None:
    """After a login that passed the second factor: notice it if the browser was not seen before."""
    _queue(current_app._get_current_object(), NEW_BROWSER, user_id, {})  # type: ignore[attr-defined]


def _queue(app: Flask, event: str, user_id: str, details: dict[str, Any]) -> None:
    """Take what the request knows, then deliver after it (on a thread) without ever raising."""
    try:
        when = app.extensions["two_factor"].clock()
        occasion = Occasion(event, str(user_id), when, details=details, **_request_facts(app))
    except Exception as error:  # never fail the change that was just committed
        log.warning("two-factor notice failed event=%s user_id=%s error=%s", event, user_id, type(error).__name__)
        return
    if not app.config["TWO_FACTOR_NOTIFY_IN_BACKGROUND"]:
        _deliver(app, occasion)
        return
    thread = threading.Thread(target=_deliver, args=(app, occasion), name="two-factor-notice")
    with _threads_lock:
        _threads.add(thread)
    try:
        thread.start()
    except RuntimeError as error:  # no thread to be had: the notice is lost, the change stands
        with _threads_lock:
            _threads.discard(thread)
        log.warning("two-factor notice failed event=%s user_id=%s error=%s", event, user_id, type(error).__name__)


def _request_facts(app: Flask) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if has_request_context():
        facts = {"ip_address": request.remote_addr, "user_agent": request.headers.get("User-Agent")}
        # The mail is written on another thread, with no request to choose a language from.
        locale = get_locale()
        facts["language"] = str(locale) if locale else None
    # A link only to a configured name: url_for would otherwise trust the request's Host header, and
    # whoever triggers a notice (a lock, say) could point the user's mail at a site of their own.
    config = app.config
    if config.get("SERVER_NAME"):
        urls = app.url_map.bind(
            config["SERVER_NAME"], script_name=config["APPLICATION_ROOT"], url_scheme=config["PREFERRED_URL_SCHEME"]
        )
        facts["settings_url"] = urls.build("two_factor.settings", force_external=True)
    return facts


def wait(timeout: float = 10.0) -> None:
    """Wait for the notices under way (tests, and a command about to exit)."""
    with _threads_lock:
        pending = list(_threads)
    for thread in pending:
        thread.join(timeout)


def _deliver(app: Flask, occasion: Occasion) -> None:
    """Compose the notice and hand it to the hook, in an app context of its own; log failures by class only."""
    try:
        with app.app_context(), force_locale(occasion.language) if occasion.language else nullcontext():
            ext = app.extensions["two_factor"]
            if occasion.event == NEW_BROWSER and _seen_before(ext.db.session, occasion):
                return
            user = ext.load_user(occasion.user_id)
            if user is None:
                return
            notice = compose(occasion, ext.email_of(user))
            ext.notify(user, notice)
    except Exception as error:
        log.warning(
            "two-factor notice failed event=%s user_id=%s error=%s",
            occasion.event,
            occasion.user_id,
            type(error).__name__,
        )
    finally:
        with _threads_lock:
            _threads.discard(threading.current_thread())


# -- a browser not seen before -------------------------------------------------------------------


def browser_family(user_agent: str | None) -> str:
    """Return the browser's short name without versions ("Chrome on Linux"): an update is no new browser."""
    from .ui import describe_browser

    return re.sub(r" \d+\b", "", describe_browser(user_agent))


def _seen_before(db_session: Any, occasion: Occasion) -> bool:
    """True if an earlier passed second factor of this account (enable, login, re-auth…) came from this browser.

    The sign-in being judged is one of the rows counted (it was committed before this runs), so the
    browser was seen before when its rows number two or more.
    """
    query = (
        select(TwoFactorAttempt.user_agent, func.count())
        .where(
            TwoFactorAttempt.user_id == occasion.user_id,
            TwoFactorAttempt.success,
            TwoFactorAttempt.attempted_at <= occasion.when,
        )
        .group_by(TwoFactorAttempt.user_agent)
    )
    family = browser_family(occasion.user_agent)
    return sum(count for agent, count in db_session.execute(query) if browser_family(agent) == family) >= 2


# -- composing -----------------------------------------------------------------------------------


def compose(occasion: Occasion, to: str | None) -> Notice:
    """Render the notice of an occasion from the two_factor/mail/ templates."""
    from .ui import describe_browser

    context = {
        "event": occasion.event,
        "issuer": current_app.config["TWO_FACTOR_ISSUER"],
        # In UTC, said so, in the language the notice is written in (see _deliver).
        "when": i18n.utc_time(occasion.when),
        "browser": describe_browser(occasion.user_agent) if occasion.user_agent else None,
        "ip_address": occasion.ip_address,
        "settings_url": occasion.settings_url,
        "low_on_codes": LOW_ON_CODES,
        **occasion.details,
    }
    # Rendered as text first (no escaping), then escaped once by the HTML layout.
    subject = " ".join(render_template("two_factor/mail/subject.txt", **context).split())
    what = render_template("two_factor/mail/what_happened.txt", **context).strip()
    advice = render_template("two_factor/mail/if_not_you.txt", **context).strip()
    parts = {"subject": subject, "what_happened": what, "if_not_you": advice, **context}
    text = render_template("two_factor/mail/notice.txt", **parts)
    html = render_template("two_factor/mail/notice.html", **parts)
    return Notice(occasion.event, occasion.user_id, to, subject, text, html)


def default_email_of(user: Any) -> str | None:
    """Return ``user.email`` when it looks like an address, else None."""
    address = getattr(user, "email", None)
    return address if isinstance(address, str) and "@" in address else None


def send_email(user: Any, notice: Notice) -> None:
    """The default hook: e-mail the notice with Flask-Mailman, or log that it was produced."""
    mailman = current_app.extensions.get("mailman")
    if mailman is None or not notice.to:
        reason = "no mail extension" if mailman is None else "no address"
        template = "two-factor notice produced, not mailed (%s) event=%s user_id=%s"
        log.info(template, reason, notice.event, notice.user_id)
        return
    from flask_mailman import EmailMultiAlternatives

    # A bounded wait: a mail server that hangs must not hold the thread (or a command's exit) forever.
    connection = mailman.get_connection(timeout=mailman.timeout or 10)
    message = EmailMultiAlternatives(notice.subject, notice.text, to=[notice.to], connection=connection)
    message.attach_alternative(notice.html, "text/html")
    message.send()
    log.info("two-factor notice mailed event=%s user_id=%s", notice.event, notice.user_id)
