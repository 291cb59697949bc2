"""``flask two-factor``: status, admin reset for a lost device, key check and key rotation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import DataError

from .crypto import SecretUnreadable
from .models import TwoFactorBackupCode, TwoFactorSecret
from .state import state

two_factor_cli = AppGroup("two-factor", help="Manage users' two-factor authentication.")
BATCH = 500


@dataclass(frozen=True)
class Account:
    """The account a command acts on, named the way every message shows it."""

    id: str
    label: str

    def __str__(self) -> str:
        return f"user {self.id}" if self.label == self.id else f"user {self.id} ({self.label})"


def user_argument(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add USER with --id / --name, which say how to read it when one text could mean two accounts."""
    command = click.option("--name", "by_name", is_flag=True, help="USER is a name (find_user).")(command)
    command = click.option("--id", "by_id", is_flag=True, help="USER is an account id.")(command)
    return click.argument("user")(command)


def _account(text: str, by_id: bool, by_name: bool) -> Account:
    """Resolve USER by id (load_user) and by name (find_user); refuse a text that names two accounts."""
    if by_id and by_name:
        raise click.UsageError("Give --id or --name, not both.")
    ext = state()
    # find_user defaults to load_user: such an app knows no names, and USER is an id.
    has_names = ext.find_user is not ext.load_user
    if by_name and not has_names:
        raise click.UsageError("This app looks users up by id only (pass find_user= to TwoFactor for --name).")
    by_id_user = None if by_name else _lookup(ext.load_user, text)
    by_name_user = None if by_id or not has_names else _lookup(ext.find_user, text)
    found = [_describe(user) for user in (by_id_user, by_name_user) if user is not None]
    if not found:
        how = " by id" if by_id else " by name" if by_name else ""
        raise click.ClickException(f"No user matches {text!r}{how}.")
    if len(found) == 2 and found[0].id != found[1].id:
        raise click.ClickException(
            f"{text!r} matches two accounts: {found[0]} by id and {found[1]} by name. Say which with --id or --name."
        )
    return found[0]


def _lookup(hook: Callable[[str], Any], text: str) -> Any:
    try:
        return hook(text)
    except (ValueError, TypeError, LookupError, DataError):
        # e.g. a name given where the host's user_loader expects an integer id.
        state().db.session.rollback()
        return None


def _describe(user: Any) -> Account:
    user_id = str(user.get_id())
    return Account(user_id, state().display_name(user))


@two_factor_cli.command("status")
@user_argument
def status_command(user: str, by_id: bool, by_name: bool) -> None:
    """Show whether USER has two-factor authentication."""
    account = _account(user, by_id, by_name)
    current = state().service().status(account.id)
    word = "enabled" if current.enabled else "pending setup" if current.pending else "disabled"
    click.echo(f"{account}: {word}; backup codes left: {current.backup_codes_remaining}")
    if current.locked:
        click.echo(f"locked after too many failed attempts: run `flask two-factor reset --unlock --id {account.id}`")
    if account.id in _unreadable_users(TwoFactorSecret.user_id == account.id):
        raise click.ClickException(UNREADABLE.format(count=1, users=account.id) + " Run `flask two-factor check-keys`.")


@two_factor_cli.command("reset")
@user_argument
@click.option("--unlock", is_flag=True, help="Only clear the failure counter and lock; keep 2FA on.")
def reset_command(user: str, by_id: bool, by_name: bool, unlock: bool) -> None:
    """Remove USER's two-factor authentication (lost device), or with --unlock only clear the lock."""
    ext = state()
    account = _account(user, by_id, by_name)
    if not ext.service().admin_reset(account.id, ext.clock(), unlock_only=unlock):
        raise click.ClickException(f"{account} has no two-factor authentication to reset; nothing was changed.")
    if unlock:
        click.echo(f"{account}: failure counter cleared; two-factor authentication stays on.")
    else:
        click.echo(
            f"{account}: two-factor authentication removed and every session signed out; "
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
            if row.replacement_secret:  # a new app awaiting its first code
                row.replacement_secret = ext.keys.rotate(row.replacement_secret)
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
    columns = select(TwoFactorSecret.user_id, TwoFactorSecret.secret, TwoFactorSecret.replacement_secret)
    rows = state().db.session.execute(columns.where(*where))
    return [user_id for user_id, *tokens in rows if not all(_readable(token) for token in tokens if token)]


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
