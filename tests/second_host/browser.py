"""Drives the second host like a person (forms) and a JSON client (the 2FA API) do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
PASSWORD = "ledger password 1"


@dataclass
class Browser:
    """A test client that reads the CSRF token from a page before every POST, as the session changes."""

    client: FlaskClient
    secret: str = ""
    backup_codes: list[str] = field(default_factory=list)

    def token(self) -> str:
        match = CSRF_META.search(self.client.get("/account/sign-in").get_data(as_text=True))
        assert match, "no csrf-token meta on the sign-in page"
        return match.group(1)

    def sign_in(self, email: str, password: str = PASSWORD, next_url: str | None = None) -> Any:
        path = "/account/sign-in" + (f"?next={next_url}" if next_url else "")
        return self.client.post(path, data={"csrf_token": self.token(), "email": email, "password": password})

    def sign_out(self) -> Any:
        return self.client.post("/account/sign-out", data={"csrf_token": self.token()})

    def post_json(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, json=body or {}, headers={"X-CSRFToken": self.token()})

    def get_json(self, path: str) -> Any:
        return self.client.get(path, headers={"Accept": "application/json"})

    def enable(self, code_at: Any) -> list[str]:
        """Set up and confirm 2FA; ``code_at(secret)`` returns the current TOTP code."""
        setup = self.post_json("/2fa/setup")
        assert setup.status_code == 200, setup.get_json()
        self.secret = setup.get_json()["secret"]
        verify = self.post_json("/2fa/verify", {"code": code_at(self.secret)})
        assert verify.status_code == 200, verify.get_json()
        self.backup_codes = verify.get_json()["backupCodes"]
        return self.backup_codes
