"""A software WebAuthn authenticator for the tests: EC P-256 keys, attestation "none", real signatures.

It answers the options JSON the server sends with the credential JSON a browser would post back,
so the server's checks run on real signatures; arguments bend one thing at a time (origin, RP ID,
counter, signing key) to prove each refusal.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

USER_PRESENT, USER_VERIFIED, ATTESTED_DATA = 0x01, 0x04, 0x40


@dataclass
class SoftKey:
    """One credential kept by the software authenticator."""

    credential_id: bytes
    rp_id: str
    user_handle: bytes
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    # False: a synced passkey, whose counter stays 0.
    counts: bool = True
    user_verified: bool = True
    sign_count: int = 0


def _options(options: str | dict[str, Any]) -> dict[str, Any]:
    return json.loads(options) if isinstance(options, str) else options


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()


def _cose_key(key: SoftKey) -> bytes:
    numbers = key.private_key.public_key().public_numbers()
    # kty EC2, alg ES256, crv P-256, x, y
    return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


def _flags(key: SoftKey, extra: int = 0) -> bytes:
    return bytes([USER_PRESENT | (USER_VERIFIED if key.user_verified else 0) | extra])


def create(
    options: str | dict[str, Any],
    origin: str,
    *,
    rp_id: str | None = None,
    counts: bool = True,
    user_verified: bool = True,
    transports: tuple[str, ...] = ("usb",),
    credential_id: bytes | None = None,
) -> tuple[dict[str, Any], SoftKey]:
    """Answer creation options as ``navigator.credentials.create()`` would; return the credential JSON and the key."""
    opts = _options(options)
    key = SoftKey(
        credential_id=credential_id or os.urandom(32),
        rp_id=rp_id or opts["rp"]["id"],
        user_handle=base64url_to_bytes(opts["user"]["id"]),
        counts=counts,
        user_verified=user_verified,
    )
    attested = bytes(16) + len(key.credential_id).to_bytes(2, "big") + key.credential_id + _cose_key(key)
    auth_data = hashlib.sha256(key.rp_id.encode()).digest() + _flags(key, ATTESTED_DATA) + bytes(4) + attested
    attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
    credential = {
        "id": bytes_to_base64url(key.credential_id),
        "rawId": bytes_to_base64url(key.credential_id),
        "type": "public-key",
        "response": {
            "clientDataJSON": bytes_to_base64url(_client_data("webauthn.create", opts["challenge"], origin)),
            "attestationObject": bytes_to_base64url(attestation),
            "transports": list(transports),
        },
        "clientExtensionResults": {},
    }
    return credential, key


def get(
    key: SoftKey,
    options: str | dict[str, Any],
    origin: str,
    *,
    rp_id: str | None = None,
    sign_count: int | None = None,
    signing_key: ec.EllipticCurvePrivateKey | None = None,
) -> dict[str, Any]:
    """Answer request options as ``navigator.credentials.get()`` would, with ``key``; return the credential JSON."""
    if sign_count is None:
        key.sign_count += 1 if key.counts else 0
        sign_count = key.sign_count
    client_data = _client_data("webauthn.get", _options(options)["challenge"], origin)
    auth_data = hashlib.sha256((rp_id or key.rp_id).encode()).digest() + _flags(key) + sign_count.to_bytes(4, "big")
    signed = auth_data + hashlib.sha256(client_data).digest()
    signature = (signing_key or key.private_key).sign(signed, ec.ECDSA(hashes.SHA256()))
    return {
        "id": bytes_to_base64url(key.credential_id),
        "rawId": bytes_to_base64url(key.credential_id),
        "type": "public-key",
        "response": {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature),
            "userHandle": bytes_to_base64url(key.user_handle),
        },
        "clientExtensionResults": {},
    }
