"""What every factor shares: the throttle budget and its scopes, the audit row, signals, the judged attempt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from . import signals, throttle
from .crypto import KeyRing
from .factors import credential_store
from .factors.authenticator_app import AuthenticatorApp
from .factors.backup_codes import BackupCodes
from .factors.base import Factor, PassesAtOnce, SecretState
from .models import CLOCK_DRIFT, LOCKED, REUSED_CODE, WRONG_CODE, WRONG_PASSWORD, TwoFactorSecret
from .outcomes import Client, Code, Outcome, Policy, Result
from .statements import READ_SECRET, RECORD_ATTEMPT, SCOPES
from .throttle import ACCOUNT, SIGN_IN

log = logging.getLogger("flask_two_factor")


# Which throttle scope judges each purpose: only the login challenge spends the sign-in budget.
SCOPE_OF = {
    "login": SIGN_IN,
    "enable": ACCOUNT,
    "disable": ACCOUNT,
    "regenerate": ACCOUNT,
    "reauth": ACCOUNT,
    "replace": ACCOUNT,
}


def counters(row: SecretState, scope: str) -> tuple[int, datetime | None]:
    """Return the failure count and the time of the last failure of one scope."""
    columns = SCOPES[scope]
    return getattr(row, columns.failures.key), getattr(row, columns.last_failed_at.key)


def failure_reason(outcome: Outcome, wrong_field: str | None, drift: int | None) -> str:
    """Return the audit reason of a counted failure that did not lock its scope."""
    if wrong_field == "password":
        return WRONG_PASSWORD
    if outcome is Outcome.REPLAYED:
        return REUSED_CODE
    return CLOCK_DRIFT if drift is not None else WRONG_CODE


class Core:
    """Judges an attempt the same way whatever its factor; never touches the request, session or templates."""

    def __init__(self, session: Session, keys: KeyRing, policy: Policy, sender: Any = None) -> None:
        self.session = session
        self.keys = keys
        self.policy = policy
        self.sender = sender
        self._outbox: list[tuple[Any, dict[str, Any]]] = []
        self.authenticator = AuthenticatorApp(session, keys, policy)
        self.backup_codes = BackupCodes(session, keys, self._send)
        # The one list of factors: judging picks from it by a code's method. Codes first, so a
        # user's rows go in the order their foreign keys want.
        self.factors: dict[str, Factor] = {factor.method: factor for factor in (self.backup_codes, self.authenticator)}

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
        factor = self.factors[code.method]
        if password_ok is None and isinstance(factor, PassesAtOnce) and factor.pass_at_once(row, code, now, scope):
            self._record(row.user_id, True, code.method, purpose, now, client)
            return Result(Outcome.OK, method=code.method)
        if not self._take_budget(row, now, scope):
            return self._lost_budget(row.user_id, now, scope)
        # The password is checked only once the budget is taken, so refusals are no password oracle.
        if password_ok is not None and not password_ok():
            return self._fail(row, code, purpose, now, client, Outcome.INVALID, wrong_field="password")
        verdict = factor.consume(row, code, now, purpose)
        if verdict.outcome is Outcome.OK:
            self.session.execute(SCOPES[scope].reset_failures, {"row_id": row.id})
            self._record(row.user_id, True, code.method, purpose, now, client)
            return Result(Outcome.OK, method=code.method)
        wrong_field = "code" if password_ok is not None else None
        return self._fail(row, code, purpose, now, client, verdict.outcome, wrong_field, verdict.drift_steps)

    def _refusal(self, failures: int, last_failed_at: datetime | None, now: datetime, scope: str) -> Result | None:
        """Return the lock or throttle refusal the scope's counters call for, or None."""
        if throttle.is_locked(failures):
            return Result(Outcome.LOCKED, scope=scope)
        wait = throttle.wait_seconds(failures, last_failed_at, now, self.policy.throttle_max)
        return Result(Outcome.THROTTLED, retry_after=wait, scope=scope) if wait else None

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

    def _fail(
        self,
        row: SecretState,
        code: Code,
        purpose: str,
        now: datetime,
        client: Client,
        outcome: Outcome,
        wrong_field: str | None = None,
        drift: int | None = None,
    ) -> Result:
        """Keep the counted failure, audit it with its reason, and lock the scope at the threshold."""
        scope = SCOPE_OF[purpose]
        failures = counters(row, scope)[0] + 1
        locked = throttle.is_locked(failures)
        reason = LOCKED if locked else failure_reason(outcome, wrong_field, drift)
        self._record(row.user_id, False, code.method, purpose, now, client, reason)
        self._send(signals.two_factor_failed, user_id=row.user_id, purpose=purpose, failures=failures, scope=scope)
        if locked:
            self._send(signals.two_factor_locked, user_id=row.user_id, scope=scope)
        self._commit()
        template = "two-factor attempt failed user_id=%s purpose=%s scope=%s failures=%d"
        log.info(template, row.user_id, purpose, scope, failures)
        if locked:
            log.warning("two-factor locked user_id=%s scope=%s", row.user_id, scope)
            return Result(Outcome.LOCKED, scope=scope)
        return Result(outcome, scope=scope, drift_steps=drift, wrong_field=wrong_field)

    # -- rows, audit, outbox ---------------------------------------------------------------

    def _row(self, user_id: str) -> TwoFactorSecret | None:
        query = select(TwoFactorSecret).where(TwoFactorSecret.user_id == user_id)
        return self.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()

    def _state(self, user_id: str) -> Row[Any] | None:
        """Read the user's secret row as plain columns (no ORM object to build or track)."""
        return self.session.execute(READ_SECRET, {"user_id": user_id}).first()

    def _enabled_state(self, user_id: str) -> Row[Any] | None:
        row = self._state(user_id)
        return row if row is not None and row.is_enabled else None

    def _delete_enrollment(self, user_id: str) -> None:
        """Stage the deletion of every factor's rows of the user."""
        for factor in self.factors.values():
            factor.forget(user_id)
        # Security keys are not judged here yet, but turning 2FA off, a reset or a deleted account ends them too.
        credential_store.forget(self.session, user_id)

    def _record(
        self,
        user_id: str,
        success: bool,
        method: str,
        purpose: str,
        now: datetime,
        client: Client,
        reason: str | None = None,
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
                "reason": reason,
            },
        )

    def _send(self, signal: Any, **kwargs: Any) -> None:
        """Queue a signal; it goes out only once the change it announces is committed."""
        self._outbox.append((signal, kwargs))

    def _commit(self) -> None:
        self.session.commit()
        outbox, self._outbox = self._outbox, []
        for signal, kwargs in outbox:
            signal.send(self.sender, **kwargs)
