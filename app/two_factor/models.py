"""The product's tables; mapped on their own metadata and copied into the host's at init_app."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .columns import USER_ID_LENGTH, Base, UTCDateTime, _uuid
from .factors.credential_store import TwoFactorCredential

# The closed set of TwoFactorAttempt.reason: what the settings page turns into a sentence.
WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a reason, not a secret)
WRONG_CODE = "wrong_code"  # a TOTP or backup code that matches nothing
CLOCK_DRIFT = "clock_drift"  # a TOTP code of a step 2..10 steps away: the device's clock is off
REUSED_CODE = "reused_code"  # a TOTP code of a step already used
LOCKED = "locked"  # the failure (of any kind) that locked its throttle scope
FAILURE_REASONS = (WRONG_PASSWORD, WRONG_CODE, CLOCK_DRIFT, REUSED_CODE, LOCKED)


class TwoFactorSecret(Base):
    """One user's TOTP secret, its state, the replay guard and the throttle counters of each scope."""

    __tablename__ = "two_factor_secrets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), unique=True, index=True)
    secret: Mapped[str] = mapped_column(Text)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    # The sign-in scope (the login challenge).
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The account scope (settings actions and re-authentication), counted apart so that someone
    # holding only a stolen session can never lock the owner out of signing in.
    account_failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    account_last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A new authenticator app's secret (encrypted like ``secret``) awaiting its first code; the
    # current secret keeps working until that code swaps them.
    replacement_secret: Mapped[str | None] = mapped_column(Text)


class TwoFactorBackupCode(Base):
    """One single-use backup code, kept only as a keyed hash."""

    __tablename__ = "two_factor_backup_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    user_id: Mapped[str] = mapped_column(
        String(USER_ID_LENGTH),
        ForeignKey("two_factor_secrets.user_id", ondelete="CASCADE"),
        index=True,
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str] = mapped_column(String(16))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TwoFactorAttempt(Base):
    """One judged attempt, kept as the audit trail and the settings page's recent activity."""

    __tablename__ = "two_factor_attempts"
    __table_args__ = (Index("two_factor_attempts_user_time_idx", "user_id", "attempted_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH))
    success: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Why a failure failed (NULL for a success), one of FAILURE_REASONS.
    reason: Mapped[str | None] = mapped_column(String(32))


class TwoFactorSession(Base):
    """One signed-in session (S17): the hash of the random token its browser carries, and what the user sees of it."""

    __tablename__ = "two_factor_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    # SHA-256 (hex) of the token in the Flask session; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    # How it signed in: "password", "password+totp", "password+backup_code".
    method: Mapped[str] = mapped_column(String(32))
    # Signed in with remember-me: Flask-Login's remember cookie may restore it while this row exists.
    remember: Mapped[bool] = mapped_column(Boolean, default=False)


class TwoFactorBrowser(Base):
    """One remembered browser (S18): the hash of the random token in its cookie, which skips the code until expiry."""

    __tablename__ = "two_factor_browsers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    # SHA-256 (hex) of the cookie's token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)


tables = Base.metadata.sorted_tables

__all__ = [
    "USER_ID_LENGTH",
    "Base",
    "TwoFactorAttempt",
    "TwoFactorBackupCode",
    "TwoFactorBrowser",
    "TwoFactorCredential",
    "TwoFactorSecret",
    "TwoFactorSession",
    "UTCDateTime",
    "tables",
]
