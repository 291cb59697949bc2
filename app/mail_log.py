"""A Flask-Mailman backend that writes each mail to the log instead of sending it (the demo without MAIL_SERVER)."""

from __future__ import annotations

import logging
from typing import Any

from flask_mailman.backends.base import BaseEmailBackend

log = logging.getLogger("app.mail")


class EmailBackend(BaseEmailBackend):
    """Log every message whole at INFO: scripts/run shows what a user would receive."""

    def send_messages(self, email_messages: Any) -> int:
        count = 0
        for message in email_messages or ():
            log.info("mail not sent (no MAIL_SERVER):\n%s", message.message().as_string())
            count += 1
        return count
