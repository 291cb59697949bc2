"""Security keys and passkeys (WebAuthn, S20): the two ceremonies on py_webauthn and their checks.

The ceremonies take explicit values (the relying party, the challenge, the user's keys) and return
results, so they are tested without a request; the helpers at the end read those values from the
request, the configuration, the Flask session and the product's clock, and stage the store's changes.
Throttling, the audit row, signals and notifications stay with the core that calls them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from urllib.parse import urlsplit

from flask import current_app, request
from flask import session as cookie_session
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import parse_authentication_credential_json
from webauthn.helpers.parse_registration_credential_json import parse_registration_credential_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..state import state
from . import credential_store
from .challenges import AUTHENTICATE, CHALLENGE_TTL, REGISTER, issue_challenge, take_challenge
from .credential_store import StoredKey

METHOD = "security_key"
# Malformed input reaches py_webauthn's parsers, which raise more than their own exception for some of it.
_REFUSED = (WebAuthnException, ValueError, TypeError, LookupError)


class KeyOutcome(Enum):
    """What a ceremony came to; only OK lets the caller store a key or complete a sign-in."""

    OK = "ok"
    # Malformed, or the origin, RP ID, challenge or signature does not match.
    INVALID = "invalid"
    # No challenge of this purpose for this user in this session: never issued, already used, or expired.
    NO_CHALLENGE = "no_challenge"
    # Not one of this user's keys (unknown, or another user's).
    UNKNOWN_KEY = "unknown_key"
    # A valid signature whose counter did not move forward: the key may have been cloned; audit it.
    COUNTER_REGRESSED = "counter_regressed"
    # The key is registered already (to this user or another).
    ALREADY_REGISTERED = "already_registered"


@dataclass(frozen=True)
class RelyingParty:
    """Who the keys are for: the RP ID they are scoped to, the name shown, the origins accepted."""

    id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True)
class NewKey:
    """A verified registration, ready for the store."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


@dataclass(frozen=True)
class Registration:
    """The outcome of a registration, its key, and the stored key's id once staged."""

    outcome: KeyOutcome
    key: NewKey | None = None
    key_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is KeyOutcome.OK


@dataclass(frozen=True)
class Assertion:
    """The outcome of a sign-in with a key; the counters say what a regressed one was."""

    outcome: KeyOutcome
    key_id: str | None = None
    sign_count: int | None = None
    stored_count: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is KeyOutcome.OK


def rp_id_of(host: str, configured: str | None = None) -> str:
    """Return the configured RP ID, else the request host without its port."""
    if configured:
        return configured
    return urlsplit(f"//{host}").hostname or ""


def origins_of(scheme: str, host: str, configured: str | Iterable[str] | None = None) -> tuple[str, ...]:
    """Return the configured origins (a list, or a comma-separated string), else the request's own origin."""
    if isinstance(configured, str):
        configured = configured.split(",")
    origins = tuple(origin.strip().rstrip("/") for origin in configured or () if origin.strip())
    return origins or (f"{scheme}://{host.lower()}",)


def counter_moves_forward(stored: int, reported: int) -> bool:
    """Tell whether an authenticator's counter is acceptable: ahead of the stored one, or 0 on both sides."""
    return reported > stored or reported == stored == 0


_TRANSPORTS = {item.value: item for item in AuthenticatorTransport}


def _descriptors(keys: Sequence[StoredKey]) -> list[PublicKeyCredentialDescriptor]:
    def transports(key: StoredKey) -> list[AuthenticatorTransport] | None:
        return [_TRANSPORTS[item] for item in key.transports if item in _TRANSPORTS] or None

    return [PublicKeyCredentialDescriptor(id=key.credential_id, transports=transports(key)) for key in keys]


def registration_options(
    rp: RelyingParty, *, user_handle: bytes, user_name: str, display_name: str, existing: Sequence[StoredKey]
) -> tuple[str, bytes]:
    """Return the creation options (JSON) and their challenge; the user's keys are excluded."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        timeout=CHALLENGE_TTL * 1000,
        attestation=AttestationConveyancePreference.NONE,
        # Resident keys preferred: a synced passkey then works as a second factor as well.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
    )
    return options_to_json(options), options.challenge


def authentication_options(rp: RelyingParty, keys: Sequence[StoredKey]) -> tuple[str, bytes]:
    """Return the request options (JSON) and their challenge; only the user's keys are allowed."""
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=CHALLENGE_TTL * 1000,
        allow_credentials=_descriptors(keys),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), options.challenge


def verify_registration(rp: RelyingParty, credential: object, challenge: bytes) -> Registration:
    """Check a new credential (``navigator.credentials.create()`` as JSON text or a dict) against its challenge."""
    try:
        parsed = parse_registration_credential_json(credential)  # type: ignore[arg-type]
        verified = verify_registration_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=list(rp.origins)
        )
    except _REFUSED:
        return Registration(KeyOutcome.INVALID)
    transports = tuple(str(item.value) for item in parsed.response.transports or ())
    key = NewKey(verified.credential_id, verified.credential_public_key, verified.sign_count, transports)
    return Registration(KeyOutcome.OK, key)


def verify_assertion(rp: RelyingParty, credential: object, challenge: bytes, keys: Sequence[StoredKey]) -> Assertion:
    """Check a sign-in (``navigator.credentials.get()`` as JSON text or a dict) made with one of ``keys``."""
    try:
        parsed = parse_authentication_credential_json(credential)  # type: ignore[arg-type]
    except _REFUSED:
        return Assertion(KeyOutcome.INVALID)
    key = next((key for key in keys if key.credential_id == parsed.raw_id), None)
    if key is None:
        return Assertion(KeyOutcome.UNKNOWN_KEY)
    handle = parsed.response.user_handle
    if handle and handle != key.user_handle:
        return Assertion(KeyOutcome.INVALID, key.id)
    try:
        # The counter is compared below, after the signature: only a genuine signature with a stale
        # counter is worth an audit as a possibly cloned key (0 makes py_webauthn skip its own check).
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=key.public_key,
            credential_current_sign_count=0,
        )
    except _REFUSED:
        return Assertion(KeyOutcome.INVALID, key.id)
    reported = verified.new_sign_count
    outcome = KeyOutcome.OK if counter_moves_forward(key.sign_count, reported) else KeyOutcome.COUNTER_REGRESSED
    return Assertion(outcome, key.id, reported, key.sign_count)


# The helpers a view calls: they read the request, the configuration, the session and the clock.


def relying_party() -> RelyingParty:
    """Return this request's relying party from TWO_FACTOR_WEBAUTHN_RP_ID / _ORIGIN, else from the request."""
    config = current_app.config
    return RelyingParty(
        id=rp_id_of(request.host, config.get("TWO_FACTOR_WEBAUTHN_RP_ID")),
        name=str(config["TWO_FACTOR_ISSUER"]),
        origins=origins_of(request.scheme, request.host, config.get("TWO_FACTOR_WEBAUTHN_ORIGIN")),
    )


def begin_registration(db: Session, user_id: str, user_name: str, display_name: str) -> str:
    """Return the creation options for a new key of the user and keep their challenge in the session."""
    existing = credential_store.stored_keys(db, user_id)
    # One random handle per user, never the user id: passkeys store it, and it must reveal nothing.
    handle = existing[0].user_handle if existing else secrets.token_bytes(32)
    options, challenge = registration_options(
        relying_party(), user_handle=handle, user_name=user_name, display_name=display_name, existing=existing
    )
    issue_challenge(cookie_session, challenge, user_id, REGISTER, state().clock(), handle)
    return options


def finish_registration(db: Session, user_id: str, name: str, credential: object) -> Registration:
    """Verify a new key against the session's challenge and stage it under ``name`` (checked with clean_name)."""
    now = state().clock()
    challenge = take_challenge(cookie_session, user_id, REGISTER, now)
    if challenge is None or challenge.user_handle is None:
        return Registration(KeyOutcome.NO_CHALLENGE)
    result = verify_registration(relying_party(), credential, challenge.value)
    if result.key is None:
        return result
    if credential_store.find(db, result.key.credential_id) is not None:
        return Registration(KeyOutcome.ALREADY_REGISTERED)
    row = credential_store.add(
        db,
        user_id,
        name=name,
        credential_id=result.key.credential_id,
        public_key=result.key.public_key,
        sign_count=result.key.sign_count,
        transports=result.key.transports,
        user_handle=challenge.user_handle,
        now=now,
    )
    return replace(result, key_id=row.id)


def begin_authentication(db: Session, user_id: str) -> str:
    """Return the request options for the user's keys and keep their challenge in the session."""
    options, challenge = authentication_options(relying_party(), credential_store.stored_keys(db, user_id))
    issue_challenge(cookie_session, challenge, user_id, AUTHENTICATE, state().clock())
    return options


def finish_authentication(db: Session, user_id: str, credential: object) -> Assertion:
    """Verify a sign-in with one of the user's keys against the session's challenge and stage its new counter."""
    now = state().clock()
    challenge = take_challenge(cookie_session, user_id, AUTHENTICATE, now)
    if challenge is None:
        return Assertion(KeyOutcome.NO_CHALLENGE)
    keys = credential_store.stored_keys(db, user_id)
    result = verify_assertion(relying_party(), credential, challenge.value, keys)
    if not result.ok:
        return result
    key = next(key for key in keys if key.id == result.key_id)
    if not credential_store.record_use(db, key, result.sign_count or 0, now, challenge.issued_at):
        # Another answer to the same challenge got there first: a parallel request, or an old cookie.
        return replace(result, outcome=KeyOutcome.NO_CHALLENGE)
    return result
