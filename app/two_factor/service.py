"""The rules of two-factor authentication: enroll, confirm, verify (replay + throttle), disable, regenerate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import browser_store, codes, session_store, signals, throttle, totp
from .crypto import KeyRing, SecretUnreadable
from .models import TwoFactorAttempt, TwoFactorBackupCode, TwoFactorBrowser, TwoFactorSecret, TwoFactorSession
from .outcomes import BACKUP_CODE, PASSWORD, REMEMBERED, TOTP, Client, Code, Enrollment, Outcome, Policy, Result, Status
from .statements import ADVANCE_STEP, CODES_UNDER_OTHER_KEYS, READ_SECRET, RECORD_ATTEMPT, SCOPES, USE_BACKUP_CODE
from .throttle import ACCOUNT, SIGN_IN

log = logging.getLogger("flask_two_factor")


# Which throttle scope judges each purpose: only the login challenge spends the sign-in budget.
SCOPE_OF = {"login": SIGN_IN, "enable": ACCOUNT, "disable": ACCOUNT, "regenerate": ACCOUNT, "reauth": ACCOUNT}


class SecretState(Protocol):
    """The columns of a secret row that judging reads: an ORM object or a plain Core row."""

    id: str
    user_id: str
    secret: str
    failed_attempts: int
    last_failed_at: datetime | None
    account_failed_attempts: int
    account_last_failed_at: datetime | None


def counters(row: SecretState, scope: str) -> tuple[int, datetime | None]:
    """Return the failure count and the time of the last failure of one scope."""
    columns = SCOPES[scope]
    return getattr(row, columns.failures.key), getattr(row, columns.last_failed_at.key)


class TwoFactorService:
    """Applies the rules to one database session; never touches the request, session or templates."""

    def __init__(self, session: Session, keys: KeyRing, policy: Policy, sender: Any = None) -> None:
        self.session = session
        self.keys = keys
        self.policy = policy
        self.sender = sender
        self._outbox: list[tuple[Any, dict[str, Any]]] = []

    # -- reading ---------------------------------------------------------------------------

    def status(self, user_id: str) -> Status:
        """Return the user's 2FA state."""
        row = self._row(user_id)
        if row is None:
            return Status(enabled=False, pending=False, backup_codes_remaining=0)
        remaining = self._codes_remaining(user_id) if row.is_enabled else 0
        locked = throttle.is_locked(row.failed_attempts)
        account_locked = throttle.is_locked(row.account_failed_attempts)
        return Status(row.is_enabled, not row.is_enabled, remaining, locked, account_locked)

    def is_enabled(self, user_id: str) -> bool:
        """Return True if the user must pass the second factor at login."""
        row = self._state(user_id)
        return bool(row and row.is_enabled)

    def pending_enrollment(self, user_id: str, account: str) -> Enrollment | None:
        """Return the setup that awaits its first code, or None."""
        row = self._row(user_id)
        if row is None or row.is_enabled:
            return None
        return self._enrollment(self.keys.decrypt(row.secret), account)

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
        secret = totp.new_secret()
        if row is None:
            row = TwoFactorSecret(user_id=user_id, created_at=now, failed_attempts=0, is_enabled=False)
            self.session.add(row)
        row.secret = self.keys.encrypt(secret)
        # Steps of the old secret say nothing about the new one; the throttle counters stay.
        row.last_used_step = None
        row.updated_at = now
        self._commit()
        return self._enrollment(secret, account)

    def cancel_setup(self, user_id: str) -> bool:
        """Drop a setup that was never confirmed; False if there was none."""
        row = self._row(user_id)
        if row is None or row.is_enabled:
            return False
        self._delete_enrollment(user_id)
        self._commit()
        return True

    def confirm_setup(self, user_id: str, code: Code, now: datetime, client: Client) -> Result:
        """Enable 2FA once the first TOTP code matches; issue the backup codes then."""
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
        issued = self._issue_codes(user_id, now)
        # A factor bound now guards the account from now on: any other session may be the intruder's (S17).
        session_store.end_sessions(self.session, user_id, keep_hash=client.session_hash)
        self._send(signals.two_factor_enabled, user_id=user_id)
        self._commit()
        log.info("two-factor enabled user_id=%s", user_id)
        return Result(Outcome.OK, method=TOTP, backup_codes=tuple(issued))

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
        issued = self._issue_codes(user_id, now)
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
                return Result(Outcome.INVALID)
            result = self._judge(row, code, "reauth", now, client, password_ok)
            if result.ok:
                self._commit()
            return result
        # Without 2FA there is no factor to throttle: the per-account request limit guards the password.
        ok = password_ok()
        self._record(user_id, ok, PASSWORD, "reauth", now, client)
        self._commit()
        return Result(Outcome.OK if ok else Outcome.INVALID, method=PASSWORD)

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

    # -- sessions (S17) --------------------------------------------------------------------

    def sessions(self, user_id: str) -> list[TwoFactorSession]:
        """Return the user's signed-in sessions, the most recently active first."""
        return session_store.listed(self.session, user_id)

    def end_session(self, user_id: str, session_id: str) -> bool:
        """Sign one of the user's sessions out; False if the user has no session of that id."""
        ended = session_store.end_one(self.session, user_id, session_id)
        self._commit()
        if ended:
            log.info("session ended user_id=%s", user_id)
        return ended

    def end_other_sessions(self, user_id: str, keep_hash: str | None) -> int:
        """Sign out every session of the user but the one ``keep_hash`` names (None: all); return how many."""
        ended = session_store.end_sessions(self.session, user_id, keep_hash=keep_hash)
        # Signing out everywhere else also forgets every remembered browser (S18), this one included.
        browser_store.forget_all(self.session, user_id)
        self._commit()
        log.info("other sessions ended user_id=%s count=%d", user_id, ended)
        return ended

    # -- remembered browsers (S18) ---------------------------------------------------------

    def remember_browser(
        self, user_id: str, token: str, now: datetime, expires_at: datetime, client: Client, replaced: str | None
    ) -> None:
        """Remember a browser that just passed the second factor: its token's hash until ``expires_at``."""
        browser_store.create(
            self.session, user_id, token, now, expires_at, replaced, client.ip_address, client.user_agent
        )
        self._send(signals.browser_remembered, user_id=user_id, days=max(1, round((expires_at - now).days)))
        self._commit()
        log.info("browser remembered user_id=%s", user_id)

    def remembered_login(self, user_id: str, browser_id: str, now: datetime, client: Client) -> None:
        """Let a remembered browser skip the code: audited as a sign-in, its last use noted."""
        browser_store.touch(self.session, browser_id, now, client.ip_address)
        self._record(user_id, True, REMEMBERED, "login", now, client)
        self._commit()

    def browsers(self, user_id: str, now: datetime) -> list[TwoFactorBrowser]:
        """Return the user's remembered browsers that have not expired, the most recently used first."""
        return browser_store.listed(self.session, user_id, now)

    def forget_browser(self, user_id: str, browser_id: str) -> bool:
        """Forget one of the user's remembered browsers; False if the user has none of that id."""
        forgotten = browser_store.forget_one(self.session, user_id, browser_id)
        self._commit()
        return forgotten

    def forget_browsers(self, user_id: str) -> int:
        """Forget every browser the user has remembered; return how many."""
        forgotten = browser_store.forget_all(self.session, user_id)
        self._commit()
        log.info("remembered browsers forgotten user_id=%s count=%d", user_id, forgotten)
        return forgotten

    # -- the judged attempt ----------------------------------------------------------------

    def _judge(
        self,
        row: SecretState,
        code: Code,
        purpose: str,
        now: datetime,
        client: Client,
        password_ok: Callable[[], bool] | None = None,
    ) -> Result:
        """Take the throttle budget of the purpose's scope, then check password and code; leave success uncommitted."""
        scope = SCOPE_OF[purpose]
        refused = self._refusal(*counters(row, scope), now, scope)
        if refused is not None:
            return refused
        if password_ok is None and code.method == TOTP and self._pass_totp(row, code, now, scope):
            self._record(row.user_id, True, code.method, purpose, now, client)
            return Result(Outcome.OK, method=code.method)
        if not self._take_budget(row, now, scope):
            return self._lost_budget(row.user_id, now, scope)
        # The password is checked only once the budget is taken, so refusals are no password oracle.
        outcome = Outcome.OK if password_ok is None or password_ok() else Outcome.INVALID
        if outcome is Outcome.OK:
            outcome = self._consume(row, code, now, purpose)
        if outcome is Outcome.OK:
            self.session.execute(SCOPES[scope].reset_failures, {"row_id": row.id})
            self._record(row.user_id, True, code.method, purpose, now, client)
            return Result(Outcome.OK, method=code.method)
        return self._fail(row, code, purpose, now, client, outcome)

    def _refusal(self, failures: int, last_failed_at: datetime | None, now: datetime, scope: str) -> Result | None:
        """Return the lock or throttle refusal the scope's counters call for, or None."""
        if throttle.is_locked(failures):
            return Result(Outcome.LOCKED, scope=scope)
        wait = throttle.wait_seconds(failures, last_failed_at, now, self.policy.throttle_max)
        return Result(Outcome.THROTTLED, retry_after=wait, scope=scope) if wait else None

    def _pass_totp(self, row: SecretState, code: Code, now: datetime, scope: str) -> bool:
        """Accept a matching TOTP code in one UPDATE: budget untouched, step newer, counters reset.

        The login hot path: a single conditional UPDATE does what taking the budget, consuming the
        step and resetting the counters do in turn. If it matches no row (a replay, or another
        request took the budget first), the attempt is judged again the general way, which counts it.
        """
        step = totp.matching_step(self.keys.decrypt(row.secret), code.value, now, self.policy.valid_window)
        if step is None:
            return False
        seen, _ = counters(row, scope)
        passed = self.session.execute(SCOPES[scope].pass_totp, {"row_id": row.id, "seen": seen, "step": step})
        return passed.rowcount == 1

    def _take_budget(self, row: SecretState, now: datetime, scope: str) -> bool:
        """Atomically count this attempt as a failure in advance; False if another request did first."""
        seen, _ = counters(row, scope)
        taken = self.session.execute(SCOPES[scope].take_budget, {"row_id": row.id, "seen": seen, "now": now})
        return taken.rowcount == 1

    def _lost_budget(self, user_id: str, now: datetime, scope: str) -> Result:
        """Refuse an attempt whose budget another request took first: that one is judged instead."""
        self.session.rollback()
        self._outbox.clear()
        fresh = self._state(user_id)
        refused = fresh and self._refusal(*counters(fresh, scope), now, scope)
        return refused or Result(Outcome.THROTTLED, retry_after=1, scope=scope)

    def _consume(self, row: SecretState, code: Code, now: datetime, purpose: str) -> Outcome:
        """Use up the code: a TOTP step newer than the last, or one unused backup code."""
        if code.method == BACKUP_CODE:
            return self._consume_backup_code(row.user_id, code.value, now, purpose)
        step = totp.matching_step(self.keys.decrypt(row.secret), code.value, now, self.policy.valid_window)
        if step is None:
            return Outcome.INVALID
        advanced = self.session.execute(ADVANCE_STEP, {"row_id": row.id, "step": step})
        return Outcome.OK if advanced.rowcount == 1 else Outcome.REPLAYED

    def _consume_backup_code(self, user_id: str, value: str, now: datetime, purpose: str) -> Outcome:
        """Mark one matching unused code as used in one conditional UPDATE."""
        hashes = [codes.keyed_hash(key.key, value) for key in self.keys.code_keys]
        used = self.session.execute(USE_BACKUP_CODE, {"owner": user_id, "hashes": hashes, "now": now})
        if used.rowcount != 1:
            self._require_code_keys(user_id)
            return Outcome.INVALID
        remaining = self._codes_remaining(user_id)
        self._send(signals.backup_code_used, user_id=user_id, purpose=purpose, remaining=remaining)
        return Outcome.OK

    def _require_code_keys(self, user_id: str) -> None:
        """Fail closed when unused codes were hashed under a key no longer configured: a miss proves nothing."""
        key_ids = [key.key_id for key in self.keys.code_keys]
        if self.session.execute(CODES_UNDER_OTHER_KEYS, {"owner": user_id, "key_ids": key_ids}).first():
            raise SecretUnreadable("Backup codes cannot be checked with the configured keys.")

    def _fail(
        self, row: SecretState, code: Code, purpose: str, now: datetime, client: Client, outcome: Outcome
    ) -> Result:
        """Keep the counted failure, audit it, and lock the scope at the threshold."""
        scope = SCOPE_OF[purpose]
        failures = counters(row, scope)[0] + 1
        self._record(row.user_id, False, code.method, purpose, now, client)
        self._send(signals.two_factor_failed, user_id=row.user_id, purpose=purpose, failures=failures, scope=scope)
        locked = throttle.is_locked(failures)
        if locked:
            self._send(signals.two_factor_locked, user_id=row.user_id, scope=scope)
        self._commit()
        template = "two-factor attempt failed user_id=%s purpose=%s scope=%s failures=%d"
        log.info(template, row.user_id, purpose, scope, failures)
        if locked:
            log.warning("two-factor locked user_id=%s scope=%s", row.user_id, scope)
            return Result(Outcome.LOCKED, scope=scope)
        return Result(outcome, scope=scope)

    # -- helpers ---------------------------------------------------------------------------

    def _row(self, user_id: str) -> TwoFactorSecret | None:
        query = select(TwoFactorSecret).where(TwoFactorSecret.user_id == user_id)
        return self.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()

    def _state(self, user_id: str) -> Row[Any] | None:
        """Read the user's secret row as plain columns (no ORM object to build or track)."""
        return self.session.execute(READ_SECRET, {"user_id": user_id}).first()

    def _enabled_state(self, user_id: str) -> Row[Any] | None:
        row = self._state(user_id)
        return row if row is not None and row.is_enabled else None

    def _codes_remaining(self, user_id: str) -> int:
        query = select(func.count()).where(
            TwoFactorBackupCode.user_id == user_id, TwoFactorBackupCode.used_at.is_(None)
        )
        return int(self.session.scalar(query) or 0)

    def _issue_codes(self, user_id: str, now: datetime) -> list[str]:
        """Replace the user's backup codes; the plaintext leaves only through the return value."""
        self.session.execute(delete(TwoFactorBackupCode).where(TwoFactorBackupCode.user_id == user_id))
        issued = codes.new_codes()
        key = self.keys.newest_code_key
        for display in issued:
            digest = codes.keyed_hash(key.key, codes.normalize(display) or "")
            self.session.add(
                TwoFactorBackupCode(user_id=user_id, code_hash=digest, key_id=key.key_id, created_at=now)
            )
        return issued

    def _delete_enrollment(self, user_id: str) -> None:
        self.session.execute(delete(TwoFactorBackupCode).where(TwoFactorBackupCode.user_id == user_id))
        self.session.execute(delete(TwoFactorSecret).where(TwoFactorSecret.user_id == user_id))

    def _record(
        self, user_id: str, success: bool, method: str, purpose: str, now: datetime, client: Client
    ) -> None:
        self.session.execute(
            RECORD_ATTEMPT,
            {
                "user_id": user_id,
                "success": success,
                "method": method,
                "purpose": purpose,
                "ip_address": (client.ip_address or None) and client.ip_address[:45],
                "user_agent": (client.user_agent or None) and client.user_agent[:512],
                "attempted_at": now,
            },
        )

    def _enrollment(self, secret: str, account: str) -> Enrollment:
        uri = totp.otpauth_uri(secret, account, self.policy.issuer)
        return Enrollment(secret=secret, otpauth_uri=uri, qr_data_uri=totp.qr_data_uri(uri))

    def _send(self, signal: Any, **kwargs: Any) -> None:
        """Queue a signal; it goes out only once the change it announces is committed."""
        self._outbox.append((signal, kwargs))

    def _commit(self) -> None:
        self.session.commit()
        outbox, self._outbox = self._outbox, []
        for signal, kwargs in outbox:
            signal.send(self.sender, **kwargs)
