"""Helpers the product's own views use, public for a host's views: answer JSON or HTML, read fields, stay on site.

The demo host is built with these and the names of ``flask_two_factor.__all__`` alone, as any host is.
"""

from __future__ import annotations

from .pending import safe_next
from .refusals import too_many
from .responses import (
    BadInput,
    add_security_headers,
    forbid_caching,
    is_checked,
    json_response,
    read_fields,
    see_other,
    wants_json,
)

__all__ = [
    "BadInput",
    "add_security_headers",
    "forbid_caching",
    "is_checked",
    "json_response",
    "read_fields",
    "safe_next",
    "see_other",
    "too_many",
    "wants_json",
]
