"""The session records (S17) in the database: tokens, their hashes, and the statements on them; no Flask.

Every signed-in request reads one row by its token's hash, so the statements are built once at import
(as in statements.py): the per-request check only binds values.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .models import TwoFactorSession, UTCDateTime
from .outcomes import BACKUP_CODE, PASSWORD, REMEMBERED, TOTP

SESSIONS = TwoFactorSession.__table__
# last_seen_at is written at most this often: a signed-in page costs a read, not a write.
TOUCH_EVERY = timedelta(minutes=1)

# How a session signed in: the password alone, or the password and the factor that completed the login.
METHOD_AFTER = {factor: f"{PASSWORD}+{factor}" for factor in (TOTP, BACKUP_CODE, "security_key", REMEMBERED)}

SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_NOW = bindparam("now", type_=UTCDateTime())
FIND = select(
    SESSIONS.c.id, SESSIONS.c.user_id, SESSIONS.c.created_at, SESSIONS.c.last_seen_at, SESSIONS.c.remember
).where(SESSIONS.c.token_hash == bindparam("token_hash"))
TOUCH = (
    update(SESSIONS)
    # The time condition makes parallel requests of one session write once.
    .where(SESSIONS.c.id == bindparam("row_id"), SESSIONS.c.last_seen_at < bindparam("due", type_=UTCDateTime()))
    .values(last_seen_at=_NOW, ip_address=bindparam("ip_address"))
)
CREATE = insert(SESSIONS)
# At a login: the sessions the browser carried, and the user's sessions no cookie can carry any more.
REPLACED = delete(SESSIONS).where(
    or_(
        SESSIONS.c.token_hash.in_(bindparam("hashes", expanding=True)),
        and_(
            SESSIONS.c.user_id == bindparam("user_id"),
            SESSIONS.c.last_seen_at < bindparam("unseen_since", type_=UTCDateTime()),
        ),
    )
)
END_BY_HASHES = delete(SESSIONS).where(SESSIONS.c.token_hash.in_(bindparam("hashes", expanding=True)))


@dataclass(frozen=True)
class Record:
    """The part of a session row the per-request check needs."""

    id: str
    user_id: str
    token_hash: str
    created_at: datetime
    last_seen_at: datetime
    remember: bool


def new_token() -> str:
    """Return a random session token (256 bits) for the browser to carry."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the stored form of a token: SHA-256, hex (the token has 256 bits, so no salt or stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def find(session: Session, token: object) -> Record | None:
    """Return the live record of a token, or None (no token, a malformed one, or a record that is gone)."""
    if not isinstance(token, str) or not 0 < len(token) <= 128:
        return None
    token_hash = hash_token(token)
    # Core on the session's connection (its transaction, which the host's user loader joins next):
    # the ORM's execution layer would cost more than the query itself, on every signed-in request.
    row = session.connection().execute(FIND, {"token_hash": token_hash}).first()
    if row is None:
        return None
    return Record(row.id, row.user_id, token_hash, row.created_at, row.last_seen_at, row.remember)


def touch(connection: Connection, record: Record, now: datetime, ip_address: str | None) -> None:
    """Write last_seen_at (and the address seen then) once it is a minute old."""
    if now - record.last_seen_at < TOUCH_EVERY:
        return
    params = {"row_id": record.id, "due": now - TOUCH_EVERY, "now": now, "ip_address": _clip(ip_address, 45)}
    connection.execute(TOUCH, params)


def create(
    session: Session,
    user_id: str,
    token: str,
    now: datetime,
    replaced: set[str],
    unseen_since: datetime,
    **details: Any,
) -> None:
    """Stage a new record (no commit), and the end of the records ``replaced`` hashes name and of the user's dead ones.

    ``details`` are ip_address, user_agent, method and remember. Dead records: unseen since
    ``unseen_since``, so older than any cookie that could carry them.
    """
    connection = session.connection()  # Core, as in find(): every login runs these two
    connection.execute(REPLACED, {"hashes": sorted(replaced), "user_id": user_id, "unseen_since": unseen_since})
    connection.execute(
        CREATE,
        {
            "id": str(uuid.uuid4()),
            "token_hash": hash_token(token),
            "user_id": user_id,
            "created_at": now,
            "last_seen_at": now,
            "ip_address": _clip(details.get("ip_address"), 45),
            "user_agent": _clip(details.get("user_agent"), 512),
            "method": details.get("method") or PASSWORD,
            "remember": bool(details.get("remember")),
        },
    )


def end(session: Session, hashes: set[str]) -> None:
    """Stage the deletion of the records of these token hashes (no commit)."""
    if hashes:
        session.execute(END_BY_HASHES, {"hashes": sorted(hashes)})


def end_sessions(session: Session, user_id: str, keep_hash: str | None = None) -> int:
    """Stage the deletion of every session of a user but the one ``keep_hash`` names; return how many."""
    statement = delete(SESSIONS).where(SESSIONS.c.user_id == user_id)
    if keep_hash is not None:
        statement = statement.where(SESSIONS.c.token_hash != keep_hash)
    return int(session.execute(statement).rowcount or 0)


def end_one(session: Session, user_id: str, session_id: str) -> bool:
    """Stage the deletion of one session of a user; False if the user has no session of that id."""
    if not SESSION_ID.fullmatch(session_id):
        return False  # no row has such an id (and PostgreSQL refuses some, NUL for one)
    statement = delete(SESSIONS).where(SESSIONS.c.user_id == user_id, SESSIONS.c.id == session_id)
    return session.execute(statement).rowcount == 1


def listed(session: Session, user_id: str) -> list[TwoFactorSession]:
    """Return the user's sessions, the most recently active first."""
    query = (
        select(TwoFactorSession)
        .where(TwoFactorSession.user_id == user_id)
        .order_by(TwoFactorSession.last_seen_at.desc(), TwoFactorSession.created_at.desc())
    )
    return list(session.scalars(query))


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else None
