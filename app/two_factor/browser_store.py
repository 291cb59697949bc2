"""The remembered browsers (S18) in the database: a row per browser, keyed by its token's hash; no Flask."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from .models import TwoFactorBrowser
from .session_store import SESSION_ID, hash_token, new_token

__all__ = ["Remembered", "create", "find", "forget_all", "forget_one", "hash_token", "listed", "new_token", "touch"]

BROWSERS = TwoFactorBrowser.__table__


@dataclass(frozen=True)
class Remembered:
    """The part of a browser row the password step needs."""

    id: str
    user_id: str
    token_hash: str
    expires_at: datetime


def find(session: Session, token: object) -> Remembered | None:
    """Return the record of a token (expired or not), or None: no token, a malformed one, or a forgotten one."""
    if not isinstance(token, str) or not 0 < len(token) <= 128:
        return None
    token_hash = hash_token(token)
    query = select(BROWSERS.c.id, BROWSERS.c.user_id, BROWSERS.c.expires_at).where(BROWSERS.c.token_hash == token_hash)
    row = session.execute(query).first()
    return None if row is None else Remembered(row.id, row.user_id, token_hash, row.expires_at)


def create(
    session: Session,
    user_id: str,
    token: str,
    now: datetime,
    expires_at: datetime,
    replaced: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Stage a new record (no commit); end the one this browser carried (``replaced``) and the user's expired ones."""
    ended = and_(BROWSERS.c.user_id == user_id, BROWSERS.c.expires_at <= now)
    if replaced:
        ended = or_(ended, BROWSERS.c.token_hash == replaced)
    session.execute(delete(BROWSERS).where(ended))
    session.execute(
        BROWSERS.insert().values(
            id=str(uuid.uuid4()),
            token_hash=hash_token(token),
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=expires_at,
            ip_address=ip_address[:45] if ip_address else None,
            user_agent=user_agent[:512] if user_agent else None,
        )
    )


def touch(session: Session, browser_id: str, now: datetime, ip_address: str | None) -> None:
    """Stage the time (and address) of the browser's latest use."""
    values = {"last_used_at": now, "ip_address": ip_address[:45] if ip_address else None}
    session.execute(update(BROWSERS).where(BROWSERS.c.id == browser_id).values(**values))


def forget_one(session: Session, user_id: str, browser_id: str) -> bool:
    """Stage the deletion of one of the user's browsers; False if the user has none of that id."""
    if not SESSION_ID.fullmatch(browser_id):
        return False  # no row has such an id (and PostgreSQL refuses some)
    statement = delete(BROWSERS).where(BROWSERS.c.user_id == user_id, BROWSERS.c.id == browser_id)
    return session.execute(statement).rowcount == 1


def forget_all(session: Session, user_id: str) -> int:
    """Stage the deletion of every browser the user has remembered; return how many."""
    return int(session.execute(delete(BROWSERS).where(BROWSERS.c.user_id == user_id)).rowcount or 0)


def listed(session: Session, user_id: str, now: datetime) -> list[TwoFactorBrowser]:
    """Return the user's unexpired remembered browsers, the most recently used first."""
    query = (
        select(TwoFactorBrowser)
        .where(TwoFactorBrowser.user_id == user_id, TwoFactorBrowser.expires_at > now)
        .order_by(TwoFactorBrowser.last_used_at.desc(), TwoFactorBrowser.created_at.desc())
    )
    return list(session.scalars(query))
