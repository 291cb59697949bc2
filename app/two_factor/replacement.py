"""Replacing the authenticator app: the new app's secret waits for its first code, the old one works until then."""

from __future__ import annotations

import logging
from datetime import datetime

from . import session_store, signals
from .core import SCOPE_OF, Core, counters
from .outcomes import Client, Code, Enrollment, Outcome, Result
from .statements import SCOPES

log = logging.getLogger("flask_two_factor")


class Replacement(Core):
    """The replacement flow of the service: begin, show, confirm, cancel."""

    def begin_replacement(self, user_id: str, account: str, now: datetime) -> Enrollment | Result:
        """Store a new app's secret awaiting its first code; the current one keeps working until then."""
        row = self._row(user_id)
        if row is None or not row.is_enabled:
            return Result(Outcome.NOT_ENABLED)
        secret, row.replacement_secret = self.authenticator.new_secret()
        row.updated_at = now
        self._commit()
        return self.authenticator.enrollment(secret, account)

    def pending_replacement(self, user_id: str, account: str) -> Enrollment | None:
        """Return the new app's setup that awaits its first code, or None."""
        row = self._enabled_state(user_id)
        if row is None or row.replacement_secret is None:
            return None
        return self.authenticator.stored_enrollment(row.replacement_secret, account)

    def confirm_replacement(self, user_id: str, code: Code, now: datetime, client: Client) -> Result:
        """Swap in the new app once a code from it matches (judged in the account scope); backup codes stay."""
        row = self._enabled_state(user_id)
        if row is None:
            return Result(Outcome.NOT_ENABLED)
        pending = row.replacement_secret
        if pending is None:
            return Result(Outcome.NO_REPLACEMENT)
        scope = SCOPE_OF["replace"]
        refused = self._refusal(*counters(row, scope), now, scope)
        if refused is not None:
            return refused
        if not self._take_budget(row, now, scope):
            return self._lost_budget(user_id, now, scope)
        step = self.authenticator.matching_step(pending, code, now)
        if step is None:
            drift = self.authenticator.drift(pending, code, now, "replace")
            return self._fail(row, code, "replace", now, client, Outcome.INVALID, drift=drift)
        if not self.authenticator.swap(row, pending, step, now):
            # A parallel confirmation with the same code swapped first (or the replacement was cancelled).
            return self._fail(row, code, "replace", now, client, Outcome.REPLAYED)
        self.session.execute(SCOPES[scope].reset_failures, {"row_id": row.id})
        self._record(user_id, True, self.authenticator.method, "replace", now, client)
        # Whoever may have copied the old secret may also hold a session: end every other one (S17).
        session_store.end_sessions(self.session, user_id, keep_hash=client.session_hash)
        self._send(signals.authenticator_replaced, user_id=user_id)
        self._commit()
        log.info("authenticator app replaced user_id=%s", user_id)
        return Result(Outcome.OK, method=self.authenticator.method)

    def cancel_replacement(self, user_id: str) -> bool:
        """Drop a new app's secret that was never confirmed; False if there was none."""
        cancelled = self.authenticator.cancel_replacement(user_id)
        self._commit()
        return cancelled
