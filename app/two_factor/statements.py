"""The statements on the secret row (throttle scopes, TOTP steps) and the audit, built once with named parameters.

Building a statement and its cache key costs more CPU than running it; these are built at import
and SQLAlchemy compiles each once, so the login path only binds values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer, Update, bindparam, insert, select, update

from .models import TwoFactorAttempt, TwoFactorSecret, UTCDateTime
from .throttle import ACCOUNT, SIGN_IN

SECRETS = TwoFactorSecret.__table__
ATTEMPTS = TwoFactorAttempt.__table__

_STEP = bindparam("step", type_=BigInteger())
_SEEN = bindparam("seen", type_=Integer())
_NOW = bindparam("now", type_=UTCDateTime())

_STEP_IS_NEW = SECRETS.c.last_used_step.is_(None) | (SECRETS.c.last_used_step < _STEP)

READ_SECRET = select(SECRETS).where(SECRETS.c.user_id == bindparam("user_id"))


@dataclass(frozen=True)
class ScopeStatements:
    """The throttle statements of one scope, on that scope's counter columns."""

    failures: Column[int]
    last_failed_at: Column[datetime | None]
    pass_totp: Update
    take_budget: Update
    reset_failures: Update


def _scope_statements(failures: Column[int], last_failed_at: Column[datetime | None]) -> ScopeStatements:
    row = SECRETS.c.id == bindparam("row_id")
    return ScopeStatements(
        failures=failures,
        last_failed_at=last_failed_at,
        # Budget untouched, step newer, counters reset: the whole successful TOTP check in one statement.
        pass_totp=update(SECRETS)
        .where(row, failures == _SEEN, _STEP_IS_NEW)
        .values({SECRETS.c.last_used_step: _STEP, failures: 0, last_failed_at: None}),
        # Compare-and-set on the failure counter: only one of several parallel attempts takes the budget.
        take_budget=update(SECRETS).where(row, failures == _SEEN).values({failures: _SEEN + 1, last_failed_at: _NOW}),
        reset_failures=update(SECRETS).where(row).values({failures: 0, last_failed_at: None}),
    )


SCOPES = {
    SIGN_IN: _scope_statements(SECRETS.c.failed_attempts, SECRETS.c.last_failed_at),
    ACCOUNT: _scope_statements(SECRETS.c.account_failed_attempts, SECRETS.c.account_last_failed_at),
}

ADVANCE_STEP = update(SECRETS).where(SECRETS.c.id == bindparam("row_id"), _STEP_IS_NEW).values(last_used_step=_STEP)

# The new app's first code swaps the secrets, only while the replacement it was judged against is
# still the pending one: of parallel confirmations (or a cancel), one wins. The confirming step
# counts as used, so the same code cannot sign in again.
SWAP_SECRET = (
    update(SECRETS)
    .where(SECRETS.c.id == bindparam("row_id"), SECRETS.c.replacement_secret == bindparam("pending"))
    .values(secret=SECRETS.c.replacement_secret, replacement_secret=None, last_used_step=_STEP, updated_at=_NOW)
)

RECORD_ATTEMPT = insert(ATTEMPTS)
