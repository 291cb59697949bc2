"""Backup codes as a factor: issue a set, count the unused, use one up, fail closed on a missing key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from .. import codes, signals
from ..crypto import KeyRing, SecretUnreadable
from ..models import TwoFactorBackupCode, UTCDateTime
from ..outcomes import BACKUP_CODE, Code, Outcome
from .base import SecretState, Verdict

CODES = TwoFactorBackupCode.__table__

# Built once at import, like statements.py: the check only binds values.
USE_BACKUP_CODE = (
    update(CODES)
    .where(
        CODES.c.user_id == bindparam("owner"),
        CODES.c.code_hash.in_(bindparam("hashes", expanding=True)),
        CODES.c.used_at.is_(None),
    )
    .values(used_at=bindparam("now", type_=UTCDateTime()))
)

# Unused codes hashed under a key the configuration no longer holds: a miss then proves nothing.
CODES_UNDER_OTHER_KEYS = (
    select(CODES.c.id)
    .where(
        CODES.c.user_id == bindparam("owner"),
        CODES.c.used_at.is_(None),
        CODES.c.key_id.not_in(bindparam("key_ids", expanding=True)),
    )
    .limit(1)
)


class BackupCodes:
    """Single-use codes, kept only as keyed hashes, for when the other factors are out of reach."""

    method = BACKUP_CODE

    def __init__(self, session: Session, keys: KeyRing, send: Callable[..., None]) -> None:
        self.session = session
        self.keys = keys
        # The core's outbox: a signal goes out only once the change it announces is committed.
        self.send = send

    def issue(self, user_id: str, now: datetime) -> list[str]:
        """Replace the user's backup codes; the plaintext leaves only through the return value."""
        self.forget(user_id)
        issued = codes.new_codes()
        key = self.keys.newest_code_key
        for display in issued:
            digest = codes.keyed_hash(key.key, codes.normalize(display) or "")
            self.session.add(TwoFactorBackupCode(user_id=user_id, code_hash=digest, key_id=key.key_id, created_at=now))
        return issued

    def remaining(self, user_id: str) -> int:
        """Return how many of the user's codes are unused."""
        query = select(func.count()).where(
            TwoFactorBackupCode.user_id == user_id, TwoFactorBackupCode.used_at.is_(None)
        )
        return int(self.session.scalar(query) or 0)

    def consume(self, row: SecretState, code: Code, now: datetime, purpose: str) -> Verdict:
        """Mark one matching unused code as used in one conditional UPDATE."""
        hashes = [codes.keyed_hash(key.key, code.value) for key in self.keys.code_keys]
        used = self.session.execute(USE_BACKUP_CODE, {"owner": row.user_id, "hashes": hashes, "now": now})
        if used.rowcount != 1:
            self._require_code_keys(row.user_id)
            return Verdict(Outcome.INVALID)
        remaining = self.remaining(row.user_id)
        self.send(signals.backup_code_used, user_id=row.user_id, purpose=purpose, remaining=remaining)
        return Verdict(Outcome.OK)

    def forget(self, user_id: str) -> None:
        """Stage the deletion of every code of the user, used or not."""
        self.session.execute(delete(TwoFactorBackupCode).where(TwoFactorBackupCode.user_id == user_id))

    def _require_code_keys(self, user_id: str) -> None:
        """Fail closed when unused codes were hashed under a key no longer configured: a miss proves nothing."""
        key_ids = [key.key_id for key in self.keys.code_keys]
        if self.session.execute(CODES_UNDER_OTHER_KEYS, {"owner": user_id, "key_ids": key_ids}).first():
            raise SecretUnreadable("Backup codes cannot be checked with the configured keys.")
