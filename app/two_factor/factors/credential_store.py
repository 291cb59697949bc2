"""The security keys and passkeys (S20) in the database: one row per WebAuthn credential; no Flask.

Every function stages its change in the given session (no commit): the caller commits it with the
audit row, as the rest of the product does.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String, and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..columns import USER_ID_LENGTH, Base, UTCDateTime

__all__ = [
    "NAME_LENGTH",
    "StoredKey",
    "TwoFactorCredential",
    "add",
    "clean_name",
    "find",
    "listed",
    "record_use",
    "remove",
    "rename",
    "stored_keys",
    "user_handle",
]

NAME_LENGTH = 64
_KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid() -> str:
    return str(uuid.uuid4())


class TwoFactorCredential(Base):
    """One registered security key or passkey: its public key, signature counter and the name its owner gave it."""

    __tablename__ = "two_factor_credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    user_id: Mapped[str] = mapped_column(String(USER_ID_LENGTH), index=True)
    # The authenticator's id for the credential (at most 1023 bytes); unique across all users, so
    # an assertion names exactly one row.
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE, as py_webauthn returns it
    # The authenticator's signature counter; synced passkeys keep it at 0.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # Comma-separated hints for the browser ("usb,nfc"), passed back in the allowed credentials.
    transports: Mapped[str] = mapped_column(String(128), default="")
    # The random WebAuthn user handle of this user, shared by all their keys (never the user id).
    user_handle: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


CREDENTIALS = TwoFactorCredential.__table__

# The key was not used since the challenge was issued: the session keeps the challenge, and a client
# holding on to an old session cookie could otherwise answer one challenge twice.
_ISSUED_AT = bindparam("issued_at", type_=UTCDateTime())
_UNUSED_SINCE = or_(CREDENTIALS.c.last_used_at.is_(None), CREDENTIALS.c.last_used_at < _ISSUED_AT)
_KEY = and_(CREDENTIALS.c.id == bindparam("row_id"), CREDENTIALS.c.user_id == bindparam("owner"), _UNUSED_SINCE)
_COUNT = bindparam("count", type_=BigInteger())
_USED = {"sign_count": _COUNT, "last_used_at": bindparam("now", type_=UTCDateTime())}
# Compare-and-set on the counter: of two parallel assertions with the same count, one wins.
ADVANCE_COUNTER = update(CREDENTIALS).where(_KEY, CREDENTIALS.c.sign_count < _COUNT).values(_USED)
# An authenticator without a counter (synced passkeys) reports 0 every time: nothing to compare.
KEEP_ZERO_COUNTER = update(CREDENTIALS).where(_KEY, CREDENTIALS.c.sign_count == 0).values(_USED)


@dataclass(frozen=True)
class StoredKey:
    """What a ceremony needs of a registered key."""

    id: str
    user_id: str
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    user_handle: bytes


def _stored(row: TwoFactorCredential) -> StoredKey:
    transports = tuple(item for item in row.transports.split(",") if item)
    return StoredKey(
        row.id, row.user_id, row.credential_id, row.public_key, row.sign_count, transports, row.user_handle
    )


def clean_name(value: object) -> str | None:
    """Return a key's name with its whitespace tidied, or None if it is empty or longer than NAME_LENGTH."""
    if not isinstance(value, str):
        return None
    name = " ".join("".join(ch for ch in value if ch.isprintable() or ch.isspace()).split())
    return name if 0 < len(name) <= NAME_LENGTH else None


def add(
    session: Session,
    user_id: str,
    *,
    name: str,
    credential_id: bytes,
    public_key: bytes,
    sign_count: int,
    transports: tuple[str, ...],
    user_handle: bytes,
    now: datetime,
) -> TwoFactorCredential:
    """Stage a newly registered key; the unique credential id refuses one registered twice at the commit."""
    row = TwoFactorCredential(
        id=_uuid(),
        user_id=user_id,
        credential_id=credential_id,
        public_key=public_key,
        sign_count=sign_count,
        transports=",".join(transports),
        user_handle=user_handle,
        name=name,
        created_at=now,
        last_used_at=None,
    )
    session.add(row)
    return row


def listed(session: Session, user_id: str) -> list[TwoFactorCredential]:
    """Return the user's keys, the oldest first (the order they were added in)."""
    query = (
        select(TwoFactorCredential)
        .where(TwoFactorCredential.user_id == user_id)
        .order_by(TwoFactorCredential.created_at, TwoFactorCredential.id)
    )
    return list(session.scalars(query))


def stored_keys(session: Session, user_id: str) -> list[StoredKey]:
    """Return the user's keys as the ceremonies need them."""
    return [_stored(row) for row in listed(session, user_id)]


def find(session: Session, credential_id: bytes) -> StoredKey | None:
    """Return the key of an authenticator's credential id, whoever owns it, or None."""
    row = session.scalars(select(TwoFactorCredential).where(TwoFactorCredential.credential_id == credential_id)).first()
    return None if row is None else _stored(row)


def user_handle(session: Session, user_id: str) -> bytes | None:
    """Return the WebAuthn user handle the user's keys share, or None before their first key."""
    query = select(CREDENTIALS.c.user_handle).where(CREDENTIALS.c.user_id == user_id).limit(1)
    return session.execute(query).scalar()


def rename(session: Session, user_id: str, key_id: str, name: str) -> bool:
    """Stage a new name for one of the user's keys; False if the user has no key of that id."""
    if not _KEY_ID.fullmatch(key_id):
        return False  # no row has such an id
    statement = update(CREDENTIALS).where(CREDENTIALS.c.id == key_id, CREDENTIALS.c.user_id == user_id)
    return session.execute(statement.values(name=name)).rowcount == 1


def remove(session: Session, user_id: str, key_id: str) -> bool:
    """Stage the removal of one of the user's keys; False if the user has no key of that id."""
    if not _KEY_ID.fullmatch(key_id):
        return False
    statement = delete(CREDENTIALS).where(CREDENTIALS.c.id == key_id, CREDENTIALS.c.user_id == user_id)
    return session.execute(statement).rowcount == 1


def forget(session: Session, user_id: str) -> None:
    """Stage the removal of every key of the user (2FA turned off or reset, the account deleted)."""
    session.execute(delete(CREDENTIALS).where(CREDENTIALS.c.user_id == user_id))


def record_use(session: Session, key: StoredKey, sign_count: int, now: datetime, issued_at: datetime) -> bool:
    """Stage the counter and time of a verified assertion; False if the counter did not move forward or the
    key was used since the challenge was issued at ``issued_at``.

    Checked in the statement, not only before it: of parallel answers to one challenge, one wins.
    """
    statement = KEEP_ZERO_COUNTER if sign_count == 0 else ADVANCE_COUNTER
    values = {"row_id": key.id, "owner": key.user_id, "count": sign_count, "now": now, "issued_at": issued_at}
    return session.execute(statement, values).rowcount == 1
