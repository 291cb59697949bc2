"""The statements every judged attempt runs, built once with named parameters.

Building a statement and its cache key costs more CPU than running it; these are built at import
and SQLAlchemy compiles each once, so the login path only binds values.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, bindparam, insert, select, update

from .models import TwoFactorAttempt, TwoFactorBackupCode, TwoFactorSecret, UTCDateTime

SECRETS = TwoFactorSecret.__table__
CODES = TwoFactorBackupCode.__table__
ATTEMPTS = TwoFactorAttempt.__table__

_STEP = bindparam("step", type_=BigInteger())
_SEEN = bindparam("seen", type_=Integer())
_NOW = bindparam("now", type_=UTCDateTime())

_STEP_IS_NEW = SECRETS.c.last_used_step.is_(None) | (SECRETS.c.last_used_step < _STEP)

READ_SECRET = select(SECRETS).where(SECRETS.c.user_id == bindparam("user_id"))

# Budget untouched, step newer, counters reset: the whole successful TOTP check in one statement.
PASS_TOTP = (
    update(SECRETS)
    .where(SECRETS.c.id == bindparam("row_id"), SECRETS.c.failed_attempts == _SEEN, _STEP_IS_NEW)
    .values(last_used_step=_STEP, failed_attempts=0, last_failed_at=None)
)

# Compare-and-set on the failure counter: only one of several parallel attempts takes the budget.
TAKE_BUDGET = (
    update(SECRETS)
    .where(SECRETS.c.id == bindparam("row_id"), SECRETS.c.failed_attempts == _SEEN)
    .values(failed_attempts=_SEEN + 1, last_failed_at=_NOW)
)

ADVANCE_STEP = (
    update(SECRETS).where(SECRETS.c.id == bindparam("row_id"), _STEP_IS_NEW).values(last_used_step=_STEP)
)

RESET_FAILURES = (
    update(SECRETS).where(SECRETS.c.id == bindparam("row_id")).values(failed_attempts=0, last_failed_at=None)
)

USE_BACKUP_CODE = (
    update(CODES)
    .where(
        CODES.c.user_id == bindparam("owner"),
        CODES.c.code_hash.in_(bindparam("hashes", expanding=True)),
        CODES.c.used_at.is_(None),
    )
    .values(used_at=_NOW)
)

RECORD_ATTEMPT = insert(ATTEMPTS)
