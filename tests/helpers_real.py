"""Helpers for the tests under real conditions: pending logins released together, row snapshots."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from sqlalchemy import select, text

from app.extensions import db
from app.two_factor.models import TwoFactorAttempt, TwoFactorBackupCode, TwoFactorSecret
from tests.support import PASSWORD, Api


def pending_client(app: Flask, username: str = "alice", password: str = PASSWORD) -> Api:
    """Return a new client (its own session cookie) that did the password step and awaits the code."""
    api = Api(app.test_client())
    response = api.login(username, password)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"ok": True, "twoFactorRequired": True}
    return api


def pending_clients(app: Flask, count: int, username: str = "alice") -> list[Api]:
    """Return ``count`` clients that each did the password step for ``username``."""
    return [pending_client(app, username) for _ in range(count)]


def release_together(clients: list[Api], action: Callable[[Api], Any], timeout: float = 60) -> list[Any]:
    """Run ``action(client)`` in one thread per client, all released at once by a barrier."""
    barrier = threading.Barrier(len(clients))

    def run(client: Api) -> Any:
        barrier.wait(timeout=timeout)
        return action(client)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        return list(pool.map(run, clients, timeout=timeout))


def secret_row(user_id: str) -> TwoFactorSecret | None:
    """Return the user's secret row as stored now (call inside an app context)."""
    db.session.expire_all()
    return db.session.scalar(select(TwoFactorSecret).where(TwoFactorSecret.user_id == user_id))


def user_id_of(username: str) -> str:
    """Return the demo user's id (call inside an app context)."""
    return db.session.scalar(text("SELECT id FROM users WHERE username = :u"), {"u": username})


SNAPSHOT_TABLES = ("users", "two_factor_secrets", "two_factor_backup_codes", "two_factor_attempts")


def snapshot(app: Flask, tables: tuple[str, ...] = SNAPSHOT_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of ``tables``, sorted, so two snapshots compare equal iff nothing changed."""
    with app.app_context(), db.engine.connect() as conn:
        return {table: sorted(tuple(row) for row in conn.execute(text(f"SELECT * FROM {table}"))) for table in tables}


def counts(app: Flask, user_id: str) -> dict[str, Any]:
    """Return the numbers the concurrency tests reason about, read fresh from the database."""
    with app.app_context():
        row = secret_row(user_id)
        assert row is not None
        attempts = db.session.execute(
            select(TwoFactorAttempt.success, TwoFactorAttempt.method).where(TwoFactorAttempt.user_id == user_id)
        ).all()
        unused = db.session.scalar(
            select(db.func.count()).where(TwoFactorBackupCode.user_id == user_id, TwoFactorBackupCode.used_at.is_(None))
        )
        return {
            "failed_attempts": row.failed_attempts,
            "last_failed_at": row.last_failed_at,
            "last_used_step": row.last_used_step,
            "is_enabled": row.is_enabled,
            "successes": sum(1 for success, _ in attempts if success),
            "failures": sum(1 for success, _ in attempts if not success),
            "unused_codes": unused,
        }
