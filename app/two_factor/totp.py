"""TOTP math (RFC 6238): secrets, codes, otpauth URIs and QR images; no Flask, no database."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
_CODE = re.compile(r"[0-9]{6}", re.ASCII)
_DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def new_secret() -> str:
    """Return a fresh 160-bit base32 secret (32 characters) from the OS CSPRNG."""
    return pyotp.random_base32(length=32)


def time_step(now: datetime) -> int:
    """Return the RFC 6238 time step (T0 = 0, 30 s) that contains ``now``."""
    return int(now.timestamp()) // STEP_SECONDS


def code_at_step(secret: str, step: int, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    """Return the code for one time step."""
    return pyotp.TOTP(secret, digits=digits, digest=_DIGESTS[algorithm]).generate_otp(step)


def normalize_code(raw: str) -> str | None:
    """Return the 6 ASCII digits of ``raw`` (spaces ignored), or None if it cannot be a TOTP code."""
    candidate = raw.replace(" ", "")
    return candidate if _CODE.fullmatch(candidate) else None


def matching_step(secret: str, code: str, now: datetime, window: int) -> int | None:
    """Return the newest step within ``window`` steps of now whose code equals ``code``."""
    current = time_step(now)
    generator = pyotp.TOTP(secret)
    found = None
    # Every step is compared, in constant time, so timing tells nothing about which one matched.
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(generator.generate_otp(step), code):
            found = step
    return found


# How far a device's clock may be off for the refusal to say so: five minutes either way. Farther
# than that, a match is more likely chance than a clock (18 of 10^6 codes already match some step).
DRIFT_REACH = 10


def drift_steps(secret: str, code: str, now: datetime, window: int, reach: int = DRIFT_REACH) -> int | None:
    """Return how many steps off a refused code is (positive: the device's clock is ahead), or None.

    Only steps outside ``window`` and at most ``reach`` away count; of several matches, the nearest.
    For the failure path alone: the code is refused whatever this returns.
    """
    current = time_step(now)
    generator = pyotp.TOTP(secret)
    found = None
    # Like matching_step, every step is compared in constant time and the loop never stops early.
    for distance in range(reach, window, -1):
        for offset in (distance, -distance):
            if hmac.compare_digest(generator.generate_otp(current + offset), code):
                found = offset
    return found


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """Return the ``otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER`` provisioning URI."""
    # Key Uri Format: issuer and account each percent-encoded, "/" too (pyotp leaves it raw, which
    # splits the label into path segments), joined by a literal ":".
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    return f"otpauth://totp/{label}?{urlencode({'secret': secret, 'issuer': issuer}, quote_via=quote)}"


def qr_data_uri(uri: str) -> str:
    """Return an SVG data URI of a QR code for ``uri``, dark on light so every scanner reads it."""
    # A fixed mask: segno's search over all eight costs ~19 ms in pure Python, and any mask is a
    # valid code (the browser test decodes a screenshot of it with zxing-cpp).
    qr = segno.make(uri, error="m", mask=0)
    return qr.svg_data_uri(scale=5, border=4, dark="#000", light="#fff")


def group_secret(secret: str) -> str:
    """Return the secret in groups of four characters for typing by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
