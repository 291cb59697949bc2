"""Fill configuration.md with the guide's table of settings, checked against the code when the docs build.

The table is written once, in docs/integration.md (section "Configuration"); this page shows the same
rows. Every ``TWO_FACTOR_*`` name the product's code mentions must have a row, and a default written as
one Python literal must equal the code's (``extension.DEFAULTS`` or an ``app.config.setdefault`` call):
otherwise a warning, which ``-W`` turns into a failed build.
"""

from __future__ import annotations

import ast
import contextlib
import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

PLACEHOLDER = "@CONFIGURATION_TABLE@"
GUIDE, SECTION = "integration.md", "### Configuration"
WHERE = "integration"  # the guide's docname: warnings name its file
KEY = re.compile(r"\bTWO_FACTOR_[A-Z0-9_]+\b")
log = logging.getLogger(__name__)


def product_modules() -> list[Path]:
    """Return the product's Python modules (conf.py imported it from app/two_factor)."""
    import flask_two_factor

    return sorted(Path(flask_two_factor.__file__).parent.glob("*.py"))


def code_defaults() -> dict[str, Any]:
    """Return each setting's default as the code sets it: DEFAULTS, then ``config.setdefault`` calls."""
    from flask_two_factor.extension import DEFAULTS

    defaults = dict(DEFAULTS)
    for module in product_modules():
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "setdefault" and len(node.args) == 2:
                name, value = node.args
                if isinstance(name, ast.Constant) and KEY.fullmatch(str(name.value)):
                    with contextlib.suppress(ValueError):  # not a literal: nothing to compare with
                        defaults.setdefault(name.value, ast.literal_eval(value))
    return defaults


def code_keys() -> set[str]:
    """Return every TWO_FACTOR_* name written in the product's Python code."""
    return {key for module in product_modules() for key in KEY.findall(module.read_text())}


def guide_rows(guide: Path) -> list[str]:
    """Return the table rows of the guide's Configuration section."""
    text = guide.read_text()
    if SECTION not in text:
        log.warning("no %r section to take the configuration table from", SECTION, location=WHERE)
        return []
    section = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def check(rows: list[str]) -> None:
    """Warn about a setting the code has and the table lacks, or a default that differs from the code's."""
    defaults, documented = code_defaults(), set()
    for row in rows[2:]:  # after the header and the |---| line
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]
        keys = KEY.findall(cells[0])
        documented.update(keys)
        literal = re.fullmatch(r"`([^`]+)`", cells[1]) if len(cells) > 1 else None
        if len(keys) == 1 and keys[0] in defaults and literal:
            try:
                written = ast.literal_eval(literal.group(1))
            except (ValueError, SyntaxError):
                continue
            if written != defaults[keys[0]]:
                message = "%s: the guide says the default is %s; the code has %r"
                log.warning(message, keys[0], cells[1], defaults[keys[0]], location=WHERE)
    for key in sorted(code_keys() - documented):
        log.warning("%s is read by flask_two_factor but has no row in this table", key, location=WHERE)


def fill(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != "configuration" or PLACEHOLDER not in source[0]:
        return
    guide = Path(app.srcdir) / GUIDE
    app.env.note_dependency(str(guide))
    rows = guide_rows(guide)
    check(rows)
    # Links to the guide's own sections (#sessions) point into the guide from this page.
    table = "\n".join(rows).replace("](#", f"]({GUIDE}#")
    source[0] = source[0].replace(PLACEHOLDER, table)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", fill)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
