"""S19 notifications: each event mails the user once through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from app import config
from app.extensions import db
from app.models import User
from app.two_factor import codes, notifications
from app.two_factor.models import TwoFactorBackupCode, TwoFactorSecret
from tests.support import PASSWORD, Api, FrozenClock, totp_now, wrong_code

ADDRESS = "alice@example.com"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message that arrives: its recipients and its bytes."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def take(self) -> list[tuple[list[str], EmailMessage]]:
        """Return what arrived since the last call, parsed, once the notices under way are delivered."""
        notifications.wait()
        arrived, self.received = self.received, []
        return [(to, email.message_from_bytes(raw, policy=default_policy)) for to, raw in arrived]  # type: ignore[misc]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    smtp[0].received.clear()
    return smtp[0]


@pytest.fixture
def mail_port(smtp: tuple[Inbox, int]) -> int:
    return smtp[1]


@pytest.fixture
def config_overrides(mail_port: int) -> dict[str, object]:
    # The real path: SMTP, on the notices' own thread (Inbox.take waits for it).
    return {
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mail_port,
        "MAIL_DEFAULT_SENDER": "Test <no-reply@example.com>",
        "TWO_FACTOR_NOTIFY_IN_BACKGROUND": True,
    }


def register(api: Api, address: str | None = ADDRESS, username: str = "alice"):
    api.refresh_token()
    body = {"username": username, "password": PASSWORD, **({"email": address} if address is not None else {})}
    response = api.post("/register", body)
    api.refresh_token()
    return response


@pytest.fixture
def mailed(api: Api, clock: FrozenClock, inbox: Inbox) -> Api:
    """A logged-in user with an address and 2FA on; the enabling mail already taken."""
    assert register(api).status_code == 201
    api.enable(clock)
    clock.advance(30)
    inbox.take()
    return api


def sign_in(api: Api, code: str, user_agent: str | None = None):
    api.logout()
    assert api.login().get_json()["twoFactorRequired"] is True
    headers = {"User-Agent": user_agent} if user_agent else {}
    response = api.post("/2fa/validate", {"code": code}, headers=headers)
    api.refresh_token()
    return response


def only_mail(inbox: Inbox) -> EmailMessage:
    """Assert exactly one message arrived, for the user's address, and return it."""
    arrived = inbox.take()
    assert len(arrived) == 1, [message["Subject"] for _, message in arrived]
    to, message = arrived[0]
    assert to == [ADDRESS] and message["To"] == ADDRESS
    return message


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


# -- one mail per event ---------------------------------------------------------------------------


def test_enabling_mails_the_user_once(api: Api, clock: FrozenClock, inbox: Inbox) -> None:
    register(api)
    api.enable(clock)
    message = only_mail(inbox)
    assert message["Subject"].startswith("Two-factor authentication was turned on")
    text = text_of(message)
    assert "When: Jan 1, 2026, 12:00" in text and "PM UTC" in text  # the language's format, said in UTC
    assert "IP address: 127.0.0.1" in text and "If this was not you" in text
    assert "Two-factor authentication was turned on" in html_of(message)


@pytest.mark.both_backends
def test_a_backup_code_used_at_sign_in_mails_the_count_left(mailed: Api, inbox: Inbox) -> None:
    assert sign_in(mailed, mailed.backup_codes[0]).status_code == 200
    message = only_mail(inbox)  # the same browser as when enabling: no "new browser" mail beside it
    assert message["Subject"].startswith("A backup code was used")
    assert "You have 9 backup codes left." in text_of(message)


@pytest.mark.parametrize(
    ("left", "wording"),
    [
        (4, "You have 4 backup codes left."),
        (3, "You are running low: 3 backup codes left."),
        (1, "You are running low: 1 backup code left."),
        (0, "You have no backup codes left"),
    ],
)
def test_the_count_left_says_when_running_low(
    app, mailed: Api, clock: FrozenClock, inbox: Inbox, left: int, wording: str
) -> None:
    spent = mailed.backup_codes[: 10 - (left + 1)]  # used already, so the next one leaves ``left``
    key = app.extensions["two_factor"].keys.newest_code_key.key
    with app.app_context():
        hashes = [codes.keyed_hash(key, codes.normalize(code) or "") for code in spent]
        used = update(TwoFactorBackupCode).where(TwoFactorBackupCode.code_hash.in_(hashes))
        db.session.execute(used.values(used_at=clock.now))
        db.session.commit()
    assert sign_in(mailed, mailed.backup_codes[len(spent)]).status_code == 200
    message = only_mail(inbox)
    assert wording in text_of(message)
    assert ("running low" in message["Subject"]) is (left <= notifications.LOW_ON_CODES)


def test_regenerating_codes_mails_the_user_once(mailed: Api, clock: FrozenClock, inbox: Inbox) -> None:
    response = mailed.post("/2fa/backup-codes", {"password": PASSWORD, "code": totp_now(mailed.secret, clock)})
    assert response.status_code == 200
    assert only_mail(inbox)["Subject"].startswith("New backup codes were created")


def test_disabling_mails_the_user_once(mailed: Api, clock: FrozenClock, inbox: Inbox) -> None:
    response = mailed.post("/2fa/disable", {"password": PASSWORD, "code": mailed.backup_codes[0]})
    assert response.status_code == 200
    # The backup code spent on turning 2FA off is told by the "turned off" mail alone.
    assert only_mail(inbox)["Subject"].startswith("Two-factor authentication was turned off")


def test_an_admin_reset_mails_the_user(app, mailed: Api, inbox: Inbox) -> None:
    assert app.test_cli_runner().invoke(args=["two-factor", "reset", "alice"]).exit_code == 0
    assert "turned off for your Test Issuer account by an administrator" in text_of(only_mail(inbox))


def set_failures(app, **counters: int) -> None:
    with app.app_context():
        db.session.execute(update(TwoFactorSecret).values(**counters))
        db.session.commit()


def test_a_locked_sign_in_mails_the_user_once(app, mailed: Api, clock: FrozenClock, inbox: Inbox) -> None:
    mailed.logout()
    mailed.login()
    set_failures(app, failed_attempts=99)
    response = mailed.post("/2fa/validate", {"code": wrong_code(mailed.secret, clock)})
    assert response.status_code == 429 and response.get_json()["locked"] is True
    message = only_mail(inbox)
    assert message["Subject"].startswith("Two-factor authentication was locked")
    assert "after too many wrong codes" in text_of(message) and "contact support" in text_of(message)


def test_a_locked_account_scope_mails_the_user_once(app, mailed: Api, clock: FrozenClock, inbox: Inbox) -> None:
    set_failures(app, account_failed_attempts=99)
    response = mailed.post("/2fa/disable", {"password": "not the password", "code": totp_now(mailed.secret, clock)})
    assert response.status_code == 429 and response.get_json()["locked"] is True
    assert "You can still sign in" in text_of(only_mail(inbox))


@pytest.mark.both_backends
def test_a_new_browser_is_mailed_once_and_the_same_browser_again_is_not(
    mailed: Api, clock: FrozenClock, inbox: Inbox
) -> None:
    assert sign_in(mailed, totp_now(mailed.secret, clock), FIREFOX).status_code == 200
    message = only_mail(inbox)
    assert message["Subject"].startswith("A sign-in from a new browser")
    assert "Browser: Firefox 128 on Linux" in text_of(message)
    clock.advance(30)
    # An update is the same browser: only the name and the system count, not the version.
    assert sign_in(mailed, totp_now(mailed.secret, clock), FIREFOX.replace("128", "129")).status_code == 200
    assert inbox.take() == []


def test_a_remembered_browser_is_mailed_once(app, mailed: Api, clock: FrozenClock, inbox: Inbox) -> None:
    app.config["TWO_FACTOR_REMEMBER_DAYS"] = 30
    mailed.logout()
    assert mailed.login().get_json()["twoFactorRequired"] is True
    response = mailed.post("/2fa/validate", {"code": totp_now(mailed.secret, clock), "remember": True})
    assert response.status_code == 200
    message = only_mail(inbox)
    assert message["Subject"].startswith("A browser will no longer be asked for a code")
    assert "for the next 30 days it will ask only for your password" in " ".join(text_of(message).split())
    assert "Remembered browsers" in html_of(message)


def test_the_browser_that_enabled_2fa_is_not_new(mailed: Api, clock: FrozenClock, inbox: Inbox) -> None:
    assert sign_in(mailed, totp_now(mailed.secret, clock)).status_code == 200
    assert inbox.take() == []


# -- what a mail never holds ----------------------------------------------------------------------


def test_no_mail_holds_a_code_secret_or_password(app, api: Api, clock: FrozenClock, inbox: Inbox) -> None:
    register(api)
    codes = list(api.enable(clock))
    used = [totp_now(api.secret, clock)]
    clock.advance(30)
    used.append(codes[0])
    sign_in(api, codes[0], FIREFOX)
    clock.advance(30)
    used.append(totp_now(api.secret, clock))
    codes += api.post("/2fa/backup-codes", {"password": PASSWORD, "code": used[-1]}).get_json()["backupCodes"]
    clock.advance(30)
    used.append(totp_now(api.secret, clock))
    assert api.post("/2fa/disable", {"password": PASSWORD, "code": used[-1]}).status_code == 200
    arrived = inbox.take()
    assert len(arrived) == 5  # enabled, backup code used, new browser, regenerated, disabled
    secrets = [api.secret, PASSWORD, *codes, *(code.replace("-", "") for code in codes)]
    for _, message in arrived:
        raw = message.as_bytes()
        readable = "\n".join([message["Subject"], text_of(message), html_of(message)])
        for value in secrets:
            assert value.encode() not in raw and value not in readable and value.lower() not in readable.lower()
        for code in used:  # 6 digits can occur by chance in a Message-ID: the parts a person reads
            assert code not in readable
        assert "http" not in readable  # no link at all without SERVER_NAME, let alone one that signs in


def test_a_settings_link_only_to_the_configured_server_name(app, api: Api, clock: FrozenClock, inbox: Inbox) -> None:
    app.config["SERVER_NAME"] = "bank.example"
    register(api)
    api.enable(clock)
    assert "Security settings (you will be asked to sign in): http://bank.example/2fa/settings" in text_of(
        only_mail(inbox)
    )
    # Whoever sends the request that causes a notice chooses its Host header: the link never follows it.
    with app.test_request_context(headers={"Host": "evil.example"}):
        assert notifications._request_facts(app)["settings_url"] == "http://bank.example/2fa/settings"


# -- delivery never fails or slows the change ------------------------------------------------------


@pytest.fixture
def smtp_down() -> int:
    return free_port()  # nothing listens there


def test_smtp_down_the_change_stands_and_the_failure_is_logged_without_content(
    app, api: Api, clock: FrozenClock, smtp_down: int, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["MAIL_PORT"] = smtp_down
    app.extensions["mailman"].port = smtp_down
    register(api)
    with caplog.at_level(logging.INFO, logger="flask_two_factor"):
        codes = api.enable(clock)  # asserts 200
        notifications.wait()
    with app.app_context():
        assert db.session.scalar(select(TwoFactorSecret.is_enabled)) is True
    failures = [record for record in caplog.records if "notice failed" in record.getMessage()]
    assert len(failures) == 1
    line = failures[0].getMessage()
    assert failures[0].levelno == logging.WARNING and "event=enabled" in line and "error=ConnectionRefusedError" in line
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in (ADDRESS, api.secret, PASSWORD, *codes, "turned on"):
        assert value not in logged


def test_a_user_without_an_address_gets_no_mail_and_one_info_line(
    api: Api, clock: FrozenClock, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    register(api, address=None)
    with caplog.at_level(logging.INFO, logger="flask_two_factor"):
        api.enable(clock)
        notifications.wait()
    assert inbox.take() == []
    lines = [record for record in caplog.records if "notice" in record.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    line = lines[0].getMessage()
    assert "event=enabled" in line and "no address" in line and "turned on" not in line.lower()


def test_a_custom_hook_receives_the_notice(app, api: Api, clock: FrozenClock, inbox: Inbox) -> None:
    received = []
    app.extensions["two_factor"].notify = lambda user, notice: received.append((user.username, notice))
    app.extensions["two_factor"].email_of = lambda user: "security@alice.example"
    register(api, address=None)
    api.enable(clock)
    notifications.wait()
    assert inbox.take() == []  # the hook replaces the default
    [(username, notice)] = received
    assert username == "alice" and notice.to == "security@alice.example" and notice.event == "enabled"
    assert notice.subject.startswith("Two-factor authentication was turned on")
    assert "<html" in notice.html and "If this was not you" in notice.text


def test_a_slow_hook_never_holds_the_request(app, api: Api, clock: FrozenClock) -> None:
    release, done = threading.Event(), []
    app.extensions["two_factor"].notify = lambda user, notice: (release.wait(10), done.append(notice.event))
    register(api)
    api.enable(clock)  # answered 200 while the hook still waits
    assert done == []
    release.set()
    notifications.wait()
    assert done == ["enabled"]


def test_a_failing_hook_is_logged_by_class_only(app, api: Api, clock: FrozenClock, caplog) -> None:
    def explode(user, notice):
        raise RuntimeError(f"secret detail {notice.subject}")

    app.extensions["two_factor"].notify = explode
    register(api)
    with caplog.at_level(logging.INFO, logger="flask_two_factor"):
        api.enable(clock)
        notifications.wait()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "error=RuntimeError" in logged and "secret detail" not in logged


# -- the demo host ------------------------------------------------------------------------------


def test_register_stores_an_optional_address(app, api: Api) -> None:
    assert register(api, address="  bob@example.org ", username="bob").status_code == 201
    api.logout()
    assert register(api, address="", username="carol").status_code == 201
    with app.app_context():
        assert dict(db.session.execute(select(User.username, User.email)).all()) == {
            "bob": "bob@example.org",
            "carol": None,
        }


@pytest.mark.parametrize(
    "address", ["not an address", "a@b", "x@y.z\r\nBcc: eve@example.com", "<a@b.c>", "a" * 250 + "@b.co"]
)
def test_register_refuses_a_malformed_address(app, api: Api, address: str) -> None:
    response = register(api, address=address)
    assert response.status_code == 400 and "e-mail" in response.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(User)) == 0


def test_the_register_page_offers_the_address_field(client) -> None:
    page = client.get("/register").get_data(as_text=True)
    assert 'name="email"' in page and "E-mail (optional, for security notices)" in page


def test_the_demo_mails_through_mail_server_or_writes_to_its_log() -> None:
    assert config.mail_settings({})["MAIL_BACKEND"] == config.LOG_MAIL_BACKEND
    smtp = config.mail_settings({"MAIL_SERVER": "mail.example", "MAIL_PORT": "2525"})
    assert (smtp["MAIL_BACKEND"], smtp["MAIL_SERVER"], smtp["MAIL_PORT"]) == ("smtp", "mail.example", 2525)


@pytest.mark.parametrize("config_overrides", [{"MAIL_BACKEND": config.LOG_MAIL_BACKEND}])
def test_without_mail_server_the_demo_logs_each_mail(api: Api, clock: FrozenClock, caplog) -> None:
    register(api)
    with caplog.at_level(logging.INFO, logger="app.mail"):
        api.enable(clock)
        notifications.wait()
    [record] = [record for record in caplog.records if record.name == "app.mail"]
    assert "To: alice@example.com" in record.getMessage()
