"""Security keys and passkeys (S20): ceremonies, challenges and the key store, with a software authenticator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, session
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from webauthn.helpers import bytes_to_base64url

from app.extensions import db
from app.models import User
from app.two_factor.factors import challenges, credential_store
from app.two_factor.factors import security_key as sk
from app.two_factor.factors.security_key import KeyOutcome
from tests import webauthn_authenticator as authenticator
from tests.support import PASSWORD, Api, FrozenClock, totp_now

pytestmark = pytest.mark.both_backends

ORIGIN = "http://localhost:5000"


@pytest.fixture
def one_browser(app: Flask) -> Iterator[None]:
    """One browser's request: its Flask session carries the challenge from begin to finish."""
    with app.test_request_context(base_url=ORIGIN):
        yield


def register(
    user_id: str = "u1", name: str = "Blue key", origin: str = ORIGIN, **bend: Any
) -> tuple[sk.Registration, authenticator.SoftKey]:
    """Run a registration with the software authenticator and commit what it staged."""
    options = sk.begin_registration(db.session, user_id, f"user-{user_id}", f"User {user_id}")
    credential, key = authenticator.create(options, origin, **bend)
    result = sk.finish_registration(db.session, user_id, name, credential)
    db.session.commit()
    return result, key


def sign_in(key: authenticator.SoftKey, user_id: str = "u1", origin: str = ORIGIN, **bend: Any) -> sk.Assertion:
    """Run a sign-in with ``key`` and commit what it staged."""
    options = sk.begin_authentication(db.session, user_id)
    result = sk.finish_authentication(db.session, user_id, authenticator.get(key, options, origin, **bend))
    db.session.commit()
    return result


def keys_of(user_id: str = "u1") -> list[credential_store.TwoFactorCredential]:
    db.session.expire_all()
    return credential_store.listed(db.session, user_id)


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


in_a_browser = pytest.mark.usefixtures("one_browser")


@in_a_browser
def test_a_key_registers_and_then_signs_in(clock: FrozenClock) -> None:
    registered, key = register(name="Blue key")
    [row] = keys_of()
    assert registered.ok and registered.key_id == row.id
    assert (row.name, row.transports, row.sign_count, row.created_at, row.last_used_at) == (
        "Blue key",
        "usb",
        0,
        clock.now,
        None,
    )
    clock.advance(60)
    signed_in = sign_in(key)
    assert signed_in.ok and signed_in.key_id == registered.key_id
    [row] = keys_of()
    assert (row.sign_count, row.last_used_at) == (1, clock.now)


@in_a_browser
def test_a_security_key_without_user_verification_works_too() -> None:
    registered, key = register(user_verified=False)
    assert registered.ok and sign_in(key).ok


@in_a_browser
def test_creation_options_ask_for_no_attestation_preferred_verification_and_resident_keys() -> None:
    options = json.loads(sk.begin_registration(db.session, "u1", "alice", "Alice"))
    assert options["rp"] == {"id": "localhost", "name": "Test Issuer"}
    assert (options["user"]["name"], options["user"]["displayName"]) == ("alice", "Alice")
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["timeout"] == 300_000


@in_a_browser
def test_creation_options_exclude_the_users_keys_and_keep_their_user_handle() -> None:
    _, first = register()
    register(user_id="u2")
    options = json.loads(sk.begin_registration(db.session, "u1", "alice", "Alice"))
    assert [item["id"] for item in options["excludeCredentials"]] == [b64(first.credential_id)]
    assert options["user"]["id"] == b64(first.user_handle)


@in_a_browser
def test_request_options_allow_only_the_users_keys(clock: FrozenClock) -> None:
    _, first = register(name="First")
    clock.advance(1)
    _, second = register(name="Second", transports=("nfc", "usb"))
    register(user_id="u2")
    options = json.loads(sk.begin_authentication(db.session, "u1"))
    assert [(item["id"], item.get("transports")) for item in options["allowCredentials"]] == [
        (b64(first.credential_id), ["usb"]),
        (b64(second.credential_id), ["nfc", "usb"]),
    ]
    assert (options["userVerification"], options["rpId"]) == ("preferred", "localhost")


@in_a_browser
def test_a_registration_from_another_origin_is_refused() -> None:
    result, _ = register(origin="https://evil.example")
    assert result.outcome is KeyOutcome.INVALID and keys_of() == []


@in_a_browser
def test_a_registration_for_another_rp_id_is_refused() -> None:
    result, _ = register(rp_id="evil.example")
    assert result.outcome is KeyOutcome.INVALID and keys_of() == []


@in_a_browser
def test_a_sign_in_from_another_origin_is_refused() -> None:
    _, key = register()
    assert sign_in(key, origin="https://evil.example").outcome is KeyOutcome.INVALID


@in_a_browser
def test_a_sign_in_for_another_rp_id_is_refused() -> None:
    _, key = register()
    assert sign_in(key, rp_id="evil.example").outcome is KeyOutcome.INVALID


@in_a_browser
def test_a_signature_by_another_private_key_is_refused() -> None:
    _, key = register()
    assert sign_in(key, signing_key=ec.generate_private_key(ec.SECP256R1())).outcome is KeyOutcome.INVALID
    assert keys_of()[0].last_used_at is None


@in_a_browser
def test_the_configured_rp_id_and_origin_replace_the_requests(app: Flask) -> None:
    app.config.update(TWO_FACTOR_WEBAUTHN_RP_ID="example.com", TWO_FACTOR_WEBAUTHN_ORIGIN="https://login.example.com")
    refused, _ = register(origin=ORIGIN)
    assert refused.outcome is KeyOutcome.INVALID
    registered, key = register(origin="https://login.example.com")
    assert registered.ok and key.rp_id == "example.com"
    assert sign_in(key, origin="https://login.example.com").ok


@in_a_browser
def test_a_replayed_sign_in_is_refused() -> None:
    _, key = register()
    options = sk.begin_authentication(db.session, "u1")
    credential = authenticator.get(key, options, ORIGIN)
    assert sk.finish_authentication(db.session, "u1", credential).ok
    assert sk.finish_authentication(db.session, "u1", credential).outcome is KeyOutcome.NO_CHALLENGE


@in_a_browser
def test_a_registration_challenge_works_once() -> None:
    options = sk.begin_registration(db.session, "u1", "alice", "Alice")
    first, _ = authenticator.create(options, ORIGIN)
    second, _ = authenticator.create(options, ORIGIN)
    assert sk.finish_registration(db.session, "u1", "One", first).ok
    assert sk.finish_registration(db.session, "u1", "Two", second).outcome is KeyOutcome.NO_CHALLENGE


@in_a_browser
def test_a_failed_check_uses_the_challenge_up() -> None:
    _, key = register()
    options = sk.begin_authentication(db.session, "u1")
    wrong = authenticator.get(key, options, "https://evil.example")
    right = authenticator.get(key, options, ORIGIN)
    assert sk.finish_authentication(db.session, "u1", wrong).outcome is KeyOutcome.INVALID
    assert sk.finish_authentication(db.session, "u1", right).outcome is KeyOutcome.NO_CHALLENGE


@pytest.mark.parametrize(("seconds", "outcome"), [(300, KeyOutcome.OK), (301, KeyOutcome.NO_CHALLENGE)])
@in_a_browser
def test_a_challenge_expires_after_300_seconds(clock: FrozenClock, seconds: int, outcome: KeyOutcome) -> None:
    _, key = register()
    options = sk.begin_authentication(db.session, "u1")
    clock.advance(seconds)
    assert sk.finish_authentication(db.session, "u1", authenticator.get(key, options, ORIGIN)).outcome is outcome


@in_a_browser
def test_an_expired_registration_challenge_is_refused(clock: FrozenClock) -> None:
    options = sk.begin_registration(db.session, "u1", "alice", "Alice")
    credential, _ = authenticator.create(options, ORIGIN)
    clock.advance(301)
    assert sk.finish_registration(db.session, "u1", "Late", credential).outcome is KeyOutcome.NO_CHALLENGE


@in_a_browser
def test_a_challenge_of_another_purpose_is_refused() -> None:
    _, key = register()
    options = sk.begin_registration(db.session, "u1", "alice", "Alice")
    assertion = authenticator.get(key, options, ORIGIN)  # signed over the registration's challenge
    assert sk.finish_authentication(db.session, "u1", assertion).outcome is KeyOutcome.NO_CHALLENGE


@in_a_browser
def test_a_challenge_of_another_user_is_refused() -> None:
    _, key = register()
    options = sk.begin_authentication(db.session, "u2")
    assertion = authenticator.get(key, options, ORIGIN)
    assert sk.finish_authentication(db.session, "u1", assertion).outcome is KeyOutcome.NO_CHALLENGE


def test_a_challenge_of_another_session_is_refused(app: Flask) -> None:
    with app.test_request_context(base_url=ORIGIN):
        _, key = register()
        options = sk.begin_authentication(db.session, "u1")
    with app.test_request_context(base_url=ORIGIN):  # another browser: a fresh session
        assertion = authenticator.get(key, options, ORIGIN)
        assert sk.finish_authentication(db.session, "u1", assertion).outcome is KeyOutcome.NO_CHALLENGE


@in_a_browser
def test_a_new_challenge_replaces_the_previous_one() -> None:
    _, key = register()
    earlier = sk.begin_authentication(db.session, "u1")
    sk.begin_authentication(db.session, "u1")
    assertion = authenticator.get(key, earlier, ORIGIN)
    assert sk.finish_authentication(db.session, "u1", assertion).outcome is KeyOutcome.INVALID


@pytest.mark.parametrize("tampered", [None, "x", 7, {"user_id": "u1", "purpose": "authenticate"}, {"issued_at": "?"}])
@in_a_browser
def test_a_tampered_session_challenge_is_refused(tampered: object) -> None:
    _, key = register()
    options = sk.begin_authentication(db.session, "u1")
    if isinstance(tampered, dict) and "issued_at" in tampered:
        session[challenges.CHALLENGE_KEY] = {**session[challenges.CHALLENGE_KEY], **tampered}
    else:
        session[challenges.CHALLENGE_KEY] = tampered
    assertion = authenticator.get(key, options, ORIGIN)
    assert sk.finish_authentication(db.session, "u1", assertion).outcome is KeyOutcome.NO_CHALLENGE


@pytest.mark.parametrize("reported", [4, 5])
@in_a_browser
def test_a_counter_that_does_not_move_forward_is_refused_and_reported(reported: int) -> None:
    _, key = register()
    assert sign_in(key, sign_count=5).ok
    result = sign_in(key, sign_count=reported)
    assert (result.outcome, result.sign_count, result.stored_count) == (KeyOutcome.COUNTER_REGRESSED, reported, 5)
    assert keys_of()[0].sign_count == 5


@in_a_browser
def test_a_counter_that_stays_zero_is_fine(clock: FrozenClock) -> None:
    _, passkey = register(counts=False, transports=("internal", "hybrid"))
    for _ in range(3):
        clock.advance(30)
        assert sign_in(passkey).ok
    assert (keys_of()[0].sign_count, keys_of()[0].last_used_at) == (0, clock.now)


@in_a_browser
def test_a_counter_falling_back_to_zero_is_refused() -> None:
    _, key = register()
    assert sign_in(key, sign_count=3).ok
    assert sign_in(key, sign_count=0).outcome is KeyOutcome.COUNTER_REGRESSED


@pytest.mark.parametrize("reported", [1, 0])
@in_a_browser
def test_of_two_parallel_answers_to_one_challenge_only_one_counts(clock: FrozenClock, reported: int) -> None:
    register()
    issued_at = clock.now
    clock.advance(5)
    [stored] = credential_store.stored_keys(db.session, "u1")
    assert credential_store.record_use(db.session, stored, reported, clock.now, issued_at)
    # The second read the key (counter and last use) before the first committed.
    assert not credential_store.record_use(db.session, stored, reported, clock.now, issued_at)


@in_a_browser
def test_a_challenge_answered_again_from_an_old_session_cookie_is_refused(clock: FrozenClock) -> None:
    _, passkey = register(counts=False)  # no counter to give the replay away
    options = sk.begin_authentication(db.session, "u1")
    kept = dict(session)  # what a client holding on to its old cookie sends back
    assertion = authenticator.get(passkey, options, ORIGIN)
    clock.advance(1)
    assert sk.finish_authentication(db.session, "u1", assertion).ok
    db.session.commit()
    clock.advance(1)
    session.update(kept)
    assert sk.finish_authentication(db.session, "u1", assertion).outcome is KeyOutcome.NO_CHALLENGE


@in_a_browser
def test_another_users_key_is_refused() -> None:
    _, theirs = register(user_id="u2")
    register(user_id="u1")
    result = sign_in(theirs, user_id="u1")
    assert result.outcome is KeyOutcome.UNKNOWN_KEY
    assert keys_of("u2")[0].last_used_at is None


@in_a_browser
def test_an_unknown_key_is_refused() -> None:
    register()
    options = sk.begin_registration(db.session, "u9", "mallory", "Mallory")
    _, stranger = authenticator.create(options, ORIGIN)
    assert sign_in(stranger).outcome is KeyOutcome.UNKNOWN_KEY


@in_a_browser
def test_a_user_handle_of_another_account_is_refused() -> None:
    _, key = register()
    key.user_handle = b"someone else"
    assert sign_in(key).outcome is KeyOutcome.INVALID


@pytest.mark.parametrize(
    "credential",
    [None, "", "not json", "[]", {}, {"id": "a", "rawId": "b", "type": "public-key", "response": {}}, 42],
)
@in_a_browser
def test_malformed_credentials_are_refused(credential: object) -> None:
    register()
    sk.begin_authentication(db.session, "u1")
    assert sk.finish_authentication(db.session, "u1", credential).outcome is KeyOutcome.INVALID
    sk.begin_registration(db.session, "u1", "alice", "Alice")
    assert sk.finish_registration(db.session, "u1", "Key", credential).outcome is KeyOutcome.INVALID


@in_a_browser
def test_a_user_has_several_named_keys(clock: FrozenClock) -> None:
    for name in ("Blue key", "Laptop passkey", "Phone"):
        assert register(name=name)[0].ok
        clock.advance(1)
    register(user_id="u2", name="Not mine")
    assert [row.name for row in keys_of()] == ["Blue key", "Laptop passkey", "Phone"]
    assert len({row.user_handle for row in keys_of()}) == 1


@in_a_browser
def test_a_key_is_renamed_only_by_its_owner() -> None:
    mine, _ = register(name="Old name")
    theirs, _ = register(user_id="u2", name="Theirs")
    assert credential_store.rename(db.session, "u1", mine.key_id or "", "New name")
    assert not credential_store.rename(db.session, "u1", theirs.key_id or "", "Taken over")
    assert not credential_store.rename(db.session, "u1", "not-an-id", "Nothing")
    db.session.commit()
    assert [row.name for row in keys_of("u1") + keys_of("u2")] == ["New name", "Theirs"]


@in_a_browser
def test_a_key_is_removed_only_by_its_owner() -> None:
    mine, key = register()
    theirs, _ = register(user_id="u2")
    assert not credential_store.remove(db.session, "u1", theirs.key_id or "")
    assert not credential_store.remove(db.session, "u1", "'; DROP TABLE users; --")
    assert credential_store.remove(db.session, "u1", mine.key_id or "")
    db.session.commit()
    assert (keys_of("u1"), len(keys_of("u2"))) == ([], 1)
    assert sign_in(key).outcome is KeyOutcome.UNKNOWN_KEY


@in_a_browser
def test_a_key_registered_twice_is_refused() -> None:
    _, key = register(user_id="u2")
    again, _ = register(user_id="u1", credential_id=key.credential_id)
    assert again.outcome is KeyOutcome.ALREADY_REGISTERED
    assert keys_of("u1") == []


@in_a_browser
def test_the_database_keeps_a_credential_id_unique(clock: FrozenClock) -> None:
    fields = {"public_key": b"k", "sign_count": 0, "transports": (), "user_handle": b"h", "now": clock.now}
    credential_store.add(db.session, "u1", name="One", credential_id=b"same", **fields)
    credential_store.add(db.session, "u2", name="Two", credential_id=b"same", **fields)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    ("host", "configured", "rp_id"),
    [
        ("localhost:5000", None, "localhost"),
        ("Example.COM", None, "example.com"),
        ("[::1]:8000", None, "::1"),
        ("app.example.com:443", "example.com", "example.com"),
    ],
)
def test_the_rp_id_is_the_configured_one_else_the_host_without_port(host: str, configured: str, rp_id: str) -> None:
    assert sk.rp_id_of(host, configured) == rp_id


@pytest.mark.parametrize(
    ("configured", "origins"),
    [
        (None, ("https://app.example.com:8443",)),
        ("", ("https://app.example.com:8443",)),
        ("https://example.com/", ("https://example.com",)),
        ("https://a.example.com, https://b.example.com", ("https://a.example.com", "https://b.example.com")),
        (["https://a.example.com"], ("https://a.example.com",)),
    ],
)
def test_the_origins_are_the_configured_ones_else_the_requests(configured: object, origins: tuple[str, ...]) -> None:
    assert sk.origins_of("https", "App.Example.com:8443", configured) == origins  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "reported", "forward"),
    [(0, 0, True), (0, 1, True), (5, 6, True), (5, 5, False), (5, 4, False), (5, 0, False)],
)
def test_a_counter_moves_forward_or_stays_zero(stored: int, reported: int, forward: bool) -> None:
    assert sk.counter_moves_forward(stored, reported) is forward


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("  Blue   key ", "Blue key"),
        ("Clé\tbleue", "Clé bleue"),
        ("k" * 64, "k" * 64),
        ("k" * 65, None),
        ("   ", None),
        ("\x00\x07", None),
        (None, None),
    ],
)
def test_a_key_name_is_tidied_or_refused(raw: object, name: str | None) -> None:
    assert credential_store.clean_name(raw) == name


# -- keys end with the user's 2FA ------------------------------------------------------------------


@in_a_browser
def test_forgetting_a_user_removes_their_keys(app: Flask) -> None:
    register()
    register(user_id="u2")
    app.extensions["two_factor"].service().forget("u1")
    db.session.commit()
    assert (keys_of("u1"), len(keys_of("u2"))) == ([], 1)


def test_turning_two_factor_off_or_an_admin_reset_removes_the_keys(
    app: Flask, enabled: Api, clock: FrozenClock
) -> None:
    with app.app_context():
        user_id = db.session.scalars(select(User.id)).one()  # the only account, made by the enabled fixture

    def register_and_count(name: str) -> int:
        with app.test_request_context(base_url=ORIGIN):
            register(user_id=user_id, name=name)
            return len(keys_of(user_id))

    assert register_and_count("First key") == 1
    response = enabled.post("/2fa/disable", {"password": PASSWORD, "code": totp_now(enabled.secret, clock)})
    assert response.status_code == 200
    clock.advance(31)
    enabled.enable(clock)
    assert register_and_count("Second key") == 1  # the first went with 2FA
    with app.app_context():
        assert app.extensions["two_factor"].service().admin_reset(user_id, clock.now)
        assert keys_of(user_id) == []
