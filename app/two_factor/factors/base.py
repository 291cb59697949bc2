"""The one small interface every second factor offers the core, and the row state they read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..outcomes import Code, Outcome


class SecretState(Protocol):
    """The columns of a secret row that judging reads: an ORM object or a plain Core row."""

    id: str
    user_id: str
    secret: str
    failed_attempts: int
    last_failed_at: datetime | None
    account_failed_attempts: int
    account_last_failed_at: datetime | None
    replacement_secret: str | None


@dataclass(frozen=True)
class Verdict:
    """What a factor made of a code: the outcome and, for a refused TOTP code, how far its clock is off."""

    outcome: Outcome
    drift_steps: int | None = None


class Factor(Protocol):
    """A second factor: it uses up a code of its kind and forgets a user; the core does everything else."""

    method: str

    def consume(self, row: SecretState, code: Code, now: datetime, purpose: str) -> Verdict:
        """Use up the code if it matches; the throttle budget is already taken."""
        ...

    def forget(self, user_id: str) -> None:
        """Stage the deletion of everything this factor keeps about the user; no commit."""
        ...


@runtime_checkable
class PassesAtOnce(Protocol):
    """A factor that can accept a matching code in the same statement that resets the scope's counters."""

    def pass_at_once(self, row: SecretState, code: Code, now: datetime, scope: str) -> bool:
        """Accept the code in one UPDATE; False sends it down the general, counted path."""
        ...
