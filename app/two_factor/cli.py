"""``flask two-factor``: status, admin reset for a lost device, key check and key rotation."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import DataError

from .crypto import SecretUnreadable
from .extension import state
from .models import TwoFactorBackupCode, TwoFactorSecret

two_factor_cli = AppGroup("two-factor", help="Manage users' two-factor authentication.")
BATCH = 500


def _user_id(identifier: str) -> str:
    """Resolve the USER argument through the host's find_user hook."""
    try:
        user = state().find_user(identifier)
    except (ValueError, TypeError, LookupError, DataError):
        # e.g. a name given where the host's user_loader expects an integer id.
        state().db.session.rollback()
        user = None
    if user is None:
        raise click.ClickException(f"No user matches {identifier!r}.")
    return str(user.get_id())


@two_factor_cli.command("status")
@click.argument("user")
def status_command(user: str) -> None:
    """Show whether USER has two-factor authentication."""
    user_id = _user_id(user)
    current = state().service().status(user_id)
    word = "enabled" if current.enabled else "pending setup" if current.pending else "disabled"
    click.echo(f"user {user_id}: {word}; backup codes left: {current.backup_codes_remaining}")
    if current.locked:
        click.echo("locked after too many failed attempts: run `flask two-factor reset --unlock USER`")
    if user_id in _unreadable_users(TwoFactorSecret.user_id == user_id):
        raise click.ClickException(UNREADABLE.format(count=1, users=user_id) + " Run `flask two-factor check-keys`.")


@two_factor_cli.command("reset")
@click.argument("user")
@click.option("--unlock", is_flag=True, help="Only clear the failure counter and lock; keep 2FA on.")
def reset_command(user: str, unlock: bool) -> None:
    """Remove USER's two-factor authentication (lost device), or with --unlock only clear the lock."""
    ext = state()
    user_id = _user_id(user)
    if not ext.service().admin_reset(user_id, ext.clock(), unlock_only=unlock):
        raise click.ClickException(f"User {user_id} has no two-factor authentication to reset.")
    if unlock:
        click.echo(f"user {user_id}: failure counter cleared; two-factor authentication stays on.")
    else:
        click.echo(
            f"user {user_id}: two-factor authentication removed; "
            "they sign in with the password alone and should set it up again."
        )


@two_factor_cli.command("check-keys")
def check_keys_command() -> None:
    """Check, without changing anything, that every stored secret opens with the configured keys."""
    unreadable = _unreadable_users()
    if unreadable:
        raise click.ClickException(_describe_unreadable(unreadable))
    total = state().db.session.scalar(select(func.count()).select_from(TwoFactorSecret)) or 0
    click.echo(f"all {total} secret(s) open with the configured keys.")
    _report_old_code_keys()


@two_factor_cli.command("rotate-keys")
def rotate_keys_command() -> None:
    """Re-encrypt every secret under the newest key of TWO_FACTOR_ENCRYPTION_KEYS."""
    ext = state()
    session = ext.db.session
    unreadable = _unreadable_users()
    if unreadable:
        raise click.ClickException(_describe_unreadable(unreadable) + " Nothing was changed.")
    rotated = 0
    last_id = ""
    # Batches keyed by id, each committed: an interrupted run is simply run again.
    while True:
        rows = session.scalars(
            select(TwoFactorSecret).where(TwoFactorSecret.id > last_id).order_by(TwoFactorSecret.id).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            row.secret = ext.keys.rotate(row.secret)
        session.commit()
        rotated += len(rows)
        last_id = rows[-1].id
    click.echo(f"re-encrypted {rotated} secret(s) under the newest key.")
    _report_old_code_keys()


UNREADABLE = (
    "{count} secret(s) cannot be read with the configured keys (users: {users}). "
    "Is an old key missing from TWO_FACTOR_ENCRYPTION_KEYS?"
)


def _unreadable_users(*where: Any) -> list[str]:
    """Return the ids of users whose stored secret no configured key opens."""
    rows = state().db.session.execute(select(TwoFactorSecret.user_id, TwoFactorSecret.secret).where(*where))
    return [user_id for user_id, token in rows if not _readable(token)]


def _describe_unreadable(user_ids: list[str]) -> str:
    shown = ", ".join(user_ids[:10]) + (" …" if len(user_ids) > 10 else "")
    return UNREADABLE.format(count=len(user_ids), users=shown)


def _readable(token: str) -> bool:
    try:
        state().keys.decrypt(token)
    except SecretUnreadable:
        return False
    return True


def _report_old_code_keys() -> None:
    """Backup codes cannot be re-hashed (never stored in plaintext): say how many rely on old keys."""
    newest = state().keys.newest_code_key.key_id
    old = state().db.session.scalar(
        select(func.count(func.distinct(TwoFactorBackupCode.user_id))).where(
            TwoFactorBackupCode.key_id != newest, TwoFactorBackupCode.used_at.is_(None)
        )
    )
    if old:
        click.echo(
            f"{old} user(s) still have backup codes hashed under an older key: they work while that key "
            "stays configured; regenerating the codes moves them to the newest key."
        )
