"""The rules of two-factor authentication: enroll, confirm, verify, disable, regenerate; the factors judge codes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from . import browser_store, session_store, signals, throttle
from .devices import Devices
from .models import WRONG_PASSWORD, TwoFactorAttempt, TwoFactorSecret
from .outcomes import PASSWORD, Client, Code, Enrollment, Outcome, Result, Status
from .replacement import Replacement

log = logging.getLogger("flask_two_factor")


class TwoFactorService(Replacement, Devices):
    """Applies the rules to one database session; never touches the request, session or templates."""

    # -- reading ---------------------------------------------------------------------------

    def status(self, user_id: str) -> Status:
        """Return the user's 2FA state."""
        row = self._row(user_id)
        if row is None:
            return Status(enabled=False, pending=False, backup_codes_remaining=0)
        remaining = self.backup_codes.remaining(user_id) if row.is_enabled else 0
        locked = throttle.is_locked(row.failed_attempts)
        account_locked = throttle.is_locked(row.account_failed_attempts)
        replacing = row.is_enabled and row.replacement_secret is not None
        return Status(row.is_enabled, not row.is_enabled, remaining, locked, account_locked, replacing)

    def is_enabled(self, user_id: str) -> bool:
        """Return True if the user must pass the second factor at login."""
        row = self._state(user_id)
        return bool(row and row.is_enabled)

    def pending_enrollment(self, user_id: str, account: str) -> Enrollment | None:
        """Return the setup that awaits its first code, or None."""
        row = self._row(user_id)
        if row is None or row.is_enabled:
            return None
        return self.authenticator.stored_enrollment(row.secret, account)

    def recent_attempts(self, user_id: str, limit: int = 10) -> list[TwoFactorAttempt]:
        """Return the user's latest attempts, newest first."""
        query = (
            select(TwoFactorAttempt)
            .where(TwoFactorAttempt.user_id == user_id)
            .order_by(TwoFactorAttempt.attempted_at.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

    # -- changing --------------------------------------------------------------------------

    def begin_setup(self, user_id: str, account: str, now: datetime) -> Enrollment | Result:
        """Store a fresh secret awaiting confirmation; refuse while 2FA is on."""
        try:
            return self._store_new_secret(user_id, account, now)
        except IntegrityError:
            # A parallel first setup of the same user inserted the row first: take that row over.
            self.session.rollback()
            return self._store_new_secret(user_id, account, now)

    def _store_new_secret(self, user_id: str, account: str, now: datetime) -> Enrollment | Result:
        row = self._row(user_id)
        if row is not None and row.is_enabled:
            return Result(Outcome.ALREADY_ENABLED)
        if row is None:
            row = TwoFactorSecret(user_id=user_id, created_at=now, failed_attempts=0, is_enabled=False)
            self.session.add(row)
        secret, row.secret = self.authenticator.new_secret()
        # Steps of the old secret say nothing about the new one; the throttle counters stay.
        row.last_used_step = None
        row.updated_at = now
        self._commit()
        return self.authenticator.enrollment(secret, account)

    def cancel_setup(self, user_id: str) -> bool:
        """Drop a setup that was never confirmed; False if there was none."""
        row = self._row(user_id)
        if row is None or row.is_enabled:
            return False
        self._delete_enrollment(user_id)
        self._commit()
        return True

    def confirm_setup(self, user_id: str, code: Code, now: datetime, client: Client) -> Result:
        """Enable 2FA once the first code from the app matches; issue the backup codes then."""
        row = self._row(user_id)
        if row is None:
            return Result(Outcome.NOT_SET_UP)
        if row.is_enabled:
            return Result(Outcome.ALREADY_ENABLED)
        result = self._judge(row, code, "enable", now, client)
        if not result.ok:
            return result
        row.is_enabled = True
        row.confirmed_at = row.updated_at = now
        issued = self.backup_codes.issue(user_id, now)
        # A factor bound now guards the account from now on: any other session may be the intruder's (S17).
        session_store.end_sessions(self.session, user_id, keep_hash=client.session_hash)
        self._send(signals.two_factor_enabled, user_id=user_id)
        self._commit()
        log.info("two-factor enabled user_id=%s", user_id)
        return Result(Outcome.OK, method=result.method, backup_codes=tuple(issued))

    def check_login(self, user_id: str, code: Code, now: datetime, client: Client) -> Result:
        """Judge the second factor of a pending login."""
        row = self._enabled_state(user_id)
        if row is None:
            return Result(Outcome.NOT_ENABLED)
        result = self._judge(row, code, "login", now, client)
        if result.ok:
            self._commit()
        return result

    def disable(
        self, user_id: str, code: Code, password_ok: Callable[[], bool], now: datetime, client: Client
    ) -> Result:
        """Turn 2FA off with the password and a code; delete the secret and every code."""
        row = self._enabled_state(user_id)
        if row is None:
            return Result(Outcome.NOT_ENABLED)
        result = self._judge(row, code, "disable", now, client, password_ok)
        if not result.ok:
            return result
        self._delete_enrollment(user_id)
        session_store.end_sessions(self.session, user_id, keep_hash=client.session_hash)
        browser_store.forget_all(self.session, user_id)  # S18: with 2FA off there is no code to skip
        self._send(signals.two_factor_disabled, user_id=user_id, by="user")
        self._commit()
        log.info("two-factor disabled user_id=%s", user_id)
        return result

    def regenerate(
        self, user_id: str, code: Code, password_ok: Callable[[], bool], now: datetime, client: Client
    ) -> Result:
        """Replace every backup code with a fresh set, given the password and a code."""
        row = self._enabled_state(user_id)
        if row is None:
            return Result(Outcome.NOT_ENABLED)
        result = self._judge(row, code, "regenerate", now, client, password_ok)
        if not result.ok:
            return result
        issued = self.backup_codes.issue(user_id, now)
        session_store.end_sessions(self.session, user_id, keep_hash=client.session_hash)
        self._send(signals.backup_codes_regenerated, user_id=user_id)
        self._commit()
        log.info("backup codes regenerated user_id=%s", user_id)
        return Result(Outcome.OK, method=result.method, backup_codes=tuple(issued))

    def reauthenticate(
        self, user_id: str, code: Code | None, password_ok: Callable[[], bool], now: datetime, client: Client
    ) -> Result:
        """Judge a re-authentication: the password, and a code when 2FA is on (counted in the account scope)."""
        row = self._enabled_state(user_id)
        if row is not None:
            if code is None:
                return Result(Outcome.INVALID, wrong_field="code")
            result = self._judge(row, code, "reauth", now, client, password_ok)
            if result.ok:
                self._commit()
            return result
        # Without 2FA there is no factor to throttle: the per-account request limit guards the password.
        ok = password_ok()
        self._record(user_id, ok, PASSWORD, "reauth", now, client, None if ok else WRONG_PASSWORD)
        self._commit()
        if ok:
            return Result(Outcome.OK, method=PASSWORD)
        return Result(Outcome.INVALID, method=PASSWORD, wrong_field="password")

    def forget(self, user_id: str) -> None:
        """Stage the deletion of everything kept about a user (secret, codes, attempts); no commit.

        For a host deleting the account: the rows go in the host's own transaction, so a later
        account that reuses the id starts with nothing.
        """
        self._delete_enrollment(user_id)
        self.session.execute(delete(TwoFactorAttempt).where(TwoFactorAttempt.user_id == user_id))
        session_store.end_sessions(self.session, user_id)
        browser_store.forget_all(self.session, user_id)

    def admin_reset(self, user_id: str, now: datetime, unlock_only: bool = False) -> bool:
        """Remove the user's 2FA (lost device), or only clear the lock; False if nothing to reset."""
        row = self._row(user_id)
        if row is None:
            return False
        if unlock_only:
            row.failed_attempts, row.last_failed_at = 0, None
            row.account_failed_attempts, row.account_last_failed_at = 0, None
        else:
            self._delete_enrollment(user_id)
            session_store.end_sessions(self.session, user_id)  # every one: the admin acts from no session of theirs
            browser_store.forget_all(self.session, user_id)
        self._record(user_id, True, "admin", "unlock" if unlock_only else "reset", now, Client())
        if not unlock_only:
            self._send(signals.two_factor_disabled, user_id=user_id, by="admin")
        self._commit()
        log.warning("two-factor %s by admin user_id=%s", "unlocked" if unlock_only else "reset", user_id)
        return True
