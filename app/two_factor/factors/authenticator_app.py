"""The authenticator app (TOTP) as a factor: its secret, matching a code, the replay guard, the clock hint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from .. import totp
from ..crypto import KeyRing
from ..models import TwoFactorSecret
from ..outcomes import TOTP, Code, Enrollment, Outcome, Policy
from ..statements import ADVANCE_STEP, SCOPES, SWAP_SECRET
from .base import SecretState, Verdict

# Purposes that confirm a secret not yet in use: a near miss there reveals nothing worth guessing.
NEW_SECRET_PURPOSES = frozenset({"enable", "replace"})


class AuthenticatorApp:
    """TOTP codes from an app: one secret per user (and a replacement awaiting its first code)."""

    method = TOTP

    def __init__(self, session: Session, keys: KeyRing, policy: Policy) -> None:
        self.session = session
        self.keys = keys
        self.policy = policy

    # -- setting up and replacing ------------------------------------------------------------

    def new_secret(self) -> tuple[str, str]:
        """Return a fresh secret and its encrypted form for the row."""
        secret = totp.new_secret()
        return secret, self.keys.encrypt(secret)

    def enrollment(self, secret: str, account: str) -> Enrollment:
        """Return what the page shows to set up ``secret``: the secret, its URI and its QR code."""
        uri = totp.otpauth_uri(secret, account, self.policy.issuer)
        return Enrollment(secret=secret, otpauth_uri=uri, qr_data_uri=totp.qr_data_uri(uri))

    def stored_enrollment(self, encrypted: str, account: str) -> Enrollment:
        """Return the setup of a secret kept encrypted on the row."""
        return self.enrollment(self.keys.decrypt(encrypted), account)

    def matching_step(self, encrypted: str, code: Code, now: datetime) -> int | None:
        """Return the newest step within the window whose code equals the given one, or None."""
        return totp.matching_step(self.keys.decrypt(encrypted), code.value, now, self.policy.valid_window)

    def swap(self, row: SecretState, pending: str, step: int, now: datetime) -> bool:
        """Make the confirmed replacement the secret, its step used; False if another request won."""
        swapped = self.session.execute(SWAP_SECRET, {"row_id": row.id, "pending": pending, "step": step, "now": now})
        return swapped.rowcount == 1

    def cancel_replacement(self, user_id: str) -> bool:
        """Drop a replacement secret that was never confirmed; False if there was none."""
        query = (
            update(TwoFactorSecret)
            .where(TwoFactorSecret.user_id == user_id, TwoFactorSecret.replacement_secret.is_not(None))
            .values(replacement_secret=None)
        )
        return self.session.execute(query).rowcount == 1

    # -- the factor interface --------------------------------------------------------------

    def pass_at_once(self, row: SecretState, code: Code, now: datetime, scope: str) -> bool:
        """Accept a matching TOTP code in one UPDATE: budget untouched, step newer, counters reset.

        The login hot path: a single conditional UPDATE does what taking the budget, consuming the
        step and resetting the counters do in turn. If it matches no row (a replay, or another
        request took the budget first), the attempt is judged again the general way, which counts it.
        """
        step = self.matching_step(row.secret, code, now)
        if step is None:
            return False
        statements = SCOPES[scope]
        seen = getattr(row, statements.failures.key)
        passed = self.session.execute(statements.pass_totp, {"row_id": row.id, "seen": seen, "step": step})
        return passed.rowcount == 1

    def consume(self, row: SecretState, code: Code, now: datetime, purpose: str) -> Verdict:
        """Use up a TOTP step newer than the last; a miss says how far the device's clock is off."""
        step = self.matching_step(row.secret, code, now)
        if step is None:
            return Verdict(Outcome.INVALID, self.drift(row.secret, code, now, purpose))
        advanced = self.session.execute(ADVANCE_STEP, {"row_id": row.id, "step": step})
        return Verdict(Outcome.OK if advanced.rowcount == 1 else Outcome.REPLAYED)

    def drift(self, encrypted: str, code: Code, now: datetime, purpose: str) -> int | None:
        """Return how many steps off a refused code's device clock is, when saying so gives nothing away.

        A code of a step ahead becomes valid in a few minutes: telling a guesser so would turn a near miss
        into a sign-in. So a fast clock is named only while confirming a new secret, which guards nothing yet;
        a slow clock (steps behind never come back) is named everywhere.
        """
        steps = totp.drift_steps(self.keys.decrypt(encrypted), code.value, now, self.policy.valid_window)
        if steps is not None and steps > 0 and purpose not in NEW_SECRET_PURPOSES:
            return None
        return steps

    def forget(self, user_id: str) -> None:
        """Stage the deletion of the user's secret row (and the throttle counters it carries)."""
        self.session.execute(delete(TwoFactorSecret).where(TwoFactorSecret.user_id == user_id))
