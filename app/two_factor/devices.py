"""The service's signed-in sessions (S17) and remembered browsers (S18): the stores, audited and announced."""

from __future__ import annotations

import logging
from datetime import datetime

from . import browser_store, session_store, signals
from .core import Core
from .models import TwoFactorBrowser, TwoFactorSession
from .outcomes import REMEMBERED, Client

log = logging.getLogger("flask_two_factor")


class Devices(Core):
    """Sessions and remembered browsers: what the page lists and ends, with the audit row and signals."""

    # -- sessions (S17) --------------------------------------------------------------------

    def sessions(self, user_id: str) -> list[TwoFactorSession]:
        """Return the user's signed-in sessions, the most recently active first."""
        return session_store.listed(self.session, user_id)

    def end_session(self, user_id: str, session_id: str) -> bool:
        """Sign one of the user's sessions out; False if the user has no session of that id."""
        ended = session_store.end_one(self.session, user_id, session_id)
        self._commit()
        if ended:
            log.info("session ended user_id=%s", user_id)
        return ended

    def end_other_sessions(self, user_id: str, keep_hash: str | None) -> int:
        """Sign out every session of the user but the one ``keep_hash`` names (None: all); return how many."""
        ended = session_store.end_sessions(self.session, user_id, keep_hash=keep_hash)
        # Signing out everywhere else also forgets every remembered browser (S18), this one included.
        browser_store.forget_all(self.session, user_id)
        self._commit()
        log.info("other sessions ended user_id=%s count=%d", user_id, ended)
        return ended

    # -- remembered browsers (S18) ---------------------------------------------------------

    def remember_browser(
        self, user_id: str, token: str, now: datetime, expires_at: datetime, client: Client, replaced: str | None
    ) -> None:
        """Remember a browser that just passed the second factor: its token's hash until ``expires_at``."""
        browser_store.create(
            self.session, user_id, token, now, expires_at, replaced, client.ip_address, client.user_agent
        )
        self._send(signals.browser_remembered, user_id=user_id, days=max(1, round((expires_at - now).days)))
        self._commit()
        log.info("browser remembered user_id=%s", user_id)

    def remembered_login(self, user_id: str, browser_id: str, now: datetime, client: Client) -> None:
        """Let a remembered browser skip the code: audited as a sign-in, its last use noted."""
        browser_store.touch(self.session, browser_id, now, client.ip_address)
        self._record(user_id, True, REMEMBERED, "login", now, client)
        self._commit()

    def browsers(self, user_id: str, now: datetime) -> list[TwoFactorBrowser]:
        """Return the user's remembered browsers that have not expired, the most recently used first."""
        return browser_store.listed(self.session, user_id, now)

    def forget_browser(self, user_id: str, browser_id: str) -> bool:
        """Forget one of the user's remembered browsers; False if the user has none of that id."""
        forgotten = browser_store.forget_one(self.session, user_id, browser_id)
        self._commit()
        return forgotten

    def forget_browsers(self, user_id: str) -> int:
        """Forget every browser the user has remembered; return how many."""
        forgotten = browser_store.forget_all(self.session, user_id)
        self._commit()
        log.info("remembered browsers forgotten user_id=%s count=%d", user_id, forgotten)
        return forgotten
