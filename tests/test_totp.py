"""S1, S2, S4: TOTP math against RFC 6238 / RFC 4226 vectors, the window (also at login), and fresh secrets."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from app.two_factor import totp
from tests.support import Api, FrozenClock, totp_now

# RFC 6238 Appendix B and RFC 4226 Appendix D, as published (seeds per RFC 6238 Appendix A).
VECTORS = json.loads((Path(__file__).resolve().parent / "data" / "rfc6238.json").read_text())


def b32(ascii_seed: str) -> str:
    return base64.b32encode(ascii_seed.encode()).decode()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["time"]))
@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_rfc6238_appendix_b_vectors(vector: dict, algorithm: str) -> None:
    seed = b32(VECTORS["seeds_ascii"][algorithm])
    step = totp.time_step(datetime.fromtimestamp(vector["time"], UTC))
    assert step == int(vector["step_hex"], 16)
    assert totp.code_at_step(seed, step, digits=8, algorithm=algorithm) == vector[algorithm]


def test_rfc4226_hotp_vectors() -> None:
    hotp = VECTORS["hotp_rfc4226_appendix_d"]
    seed = b32(hotp["secret_ascii"])
    assert [totp.code_at_step(seed, counter) for counter in range(10)] == hotp["codes_by_counter"]


def test_default_codes_are_six_digit_sha1_thirty_seconds() -> None:
    seed = b32(VECTORS["seeds_ascii"]["SHA1"])
    at_59 = datetime.fromtimestamp(59, UTC)
    assert totp.code_at_step(seed, totp.time_step(at_59)) == VECTORS["vectors"][0]["SHA1"][-6:]


def test_secret_is_160_bits_of_base32_and_new_each_time() -> None:
    secrets_ = {totp.new_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for secret in secrets_:
        assert len(secret) == 32 and len(base64.b32decode(secret)) == 20


FIXED_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)


@pytest.mark.parametrize("offset, accepted", [(-3, False), (-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_window_accepts_only_neighbouring_steps(offset: int, accepted: bool) -> None:
    step = totp.time_step(NOW) + offset
    code = totp.code_at_step(FIXED_SECRET, step)
    assert totp.matching_step(FIXED_SECRET, code, NOW, window=1) == (step if accepted else None)


def test_window_is_configurable() -> None:
    two_back = totp.code_at_step(FIXED_SECRET, totp.time_step(NOW) - 2)
    assert totp.matching_step(FIXED_SECRET, two_back, NOW, window=2) == totp.time_step(NOW) - 2
    one_back = totp.code_at_step(FIXED_SECRET, totp.time_step(NOW) - 1)
    assert totp.matching_step(FIXED_SECRET, one_back, NOW, window=0) is None


def test_default_window_at_login_is_one_step_either_side(enabled: Api, clock: FrozenClock) -> None:
    clock.advance(120)  # so that T-2 is newer than the enabling step and only the window can refuse it
    enabled.logout()
    assert enabled.login().get_json()["twoFactorRequired"] is True
    for offset in (2, -2):
        response = enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock, offset)})
        assert response.status_code == 401, offset
    assert enabled.post("/2fa/validate", {"code": totp_now(enabled.secret, clock, 1)}).status_code == 200


@pytest.mark.parametrize("raw", ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "１２３４５６", "12 34 5", "-12345"])
def test_inputs_that_cannot_be_a_code_are_rejected(raw: str) -> None:
    assert totp.normalize_code(raw) is None


def test_spaces_inside_a_code_are_ignored() -> None:
    assert totp.normalize_code("123 456") == "123456"


def test_otpauth_uri_has_issuer_label_and_secret() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "alice", "Acme")
    assert uri == "otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Acme"


@pytest.mark.parametrize(
    ("account", "issuer", "label"),
    [
        ("a/b", "Acme", "Acme:a%2Fb"),
        ("alice", "Acme/Labs", "Acme%2FLabs:alice"),
        ("alice@example.com", "Acme Corp", "Acme%20Corp:alice%40example.com"),
        ("al:ice", "Acme", "Acme:al%3Aice"),
    ],
)
def test_otpauth_label_is_encoded_issuer_colon_encoded_account(account: str, issuer: str, label: str) -> None:
    uri = totp.otpauth_uri(FIXED_SECRET, account, issuer)
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", f"/{label}")
    assert parse_qs(parts.query) == {"secret": [FIXED_SECRET], "issuer": [issuer]}
    parsed = pyotp.parse_uri(uri)  # as an authenticator app reads it back
    assert (parsed.name, parsed.issuer) == (account, issuer)


def test_secret_is_grouped_in_fours() -> None:
    assert totp.group_secret("ABCDEFGHIJKL") == "ABCD EFGH IJKL"


# -- the clock-drift hint (the failure path only) ------------------------------------------------


@pytest.mark.parametrize("offset", [2, 4, 10, -2, -7, -10])
def test_drift_is_the_signed_distance_of_a_step_outside_the_window(offset: int) -> None:
    code = totp.code_at_step(FIXED_SECRET, totp.time_step(NOW) + offset)
    assert totp.drift_steps(FIXED_SECRET, code, NOW, window=1) == offset


@pytest.mark.parametrize("offset", [-1, 0, 1, 11, -11, 30])
def test_no_drift_inside_the_window_or_beyond_ten_steps(offset: int) -> None:
    code = totp.code_at_step(FIXED_SECRET, totp.time_step(NOW) + offset)
    assert totp.drift_steps(FIXED_SECRET, code, NOW, window=1) is None


def test_drift_starts_outside_a_wider_window() -> None:
    two_ahead = totp.code_at_step(FIXED_SECRET, totp.time_step(NOW) + 2)
    assert totp.drift_steps(FIXED_SECRET, two_ahead, NOW, window=2) is None
    three_ahead = totp.code_at_step(FIXED_SECRET, totp.time_step(NOW) + 3)
    assert totp.drift_steps(FIXED_SECRET, three_ahead, NOW, window=2) == 3


def test_drift_of_a_code_that_matches_no_step_is_none() -> None:
    near = {totp.code_at_step(FIXED_SECRET, totp.time_step(NOW) + offset) for offset in range(-10, 11)}
    wrong = next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in near)
    assert totp.drift_steps(FIXED_SECRET, wrong, NOW, window=1) is None
