"""The per-app state every part of the product reaches for, in a module that imports none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from .crypto import KeyRing
from .outcomes import Policy
from .service import TwoFactorService


@dataclass
class State:
    """Per-app state kept in ``app.extensions["two_factor"]``."""

    db: Any
    keys: KeyRing
    policy: Policy
    load_user: Callable[[str], Any]
    check_password: Callable[[Any, str], bool]
    display_name: Callable[[Any], str]
    find_user: Callable[[str], Any]
    clock: Callable[[], datetime]
    limiter: Any
    required: Callable[[Any], bool] | None = None
    notify: Callable[[Any, Any], None] | None = None
    email_of: Callable[[Any], str | None] | None = None

    def service(self) -> TwoFactorService:
        """Return a service bound to this request's database session."""
        return TwoFactorService(self.db.session, self.keys, self.policy, current_app._get_current_object())


def state() -> State:
    """Return the extension state of the current app."""
    return current_app.extensions["two_factor"]
