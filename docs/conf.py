"""Sphinx configuration: the adoption guide, the configuration reference and the API reference.

Build with warnings as errors (tests/test_release.py does the same)::

    .venv/bin/sphinx-build -W --keep-going -b html docs build/docs
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SOURCE = DOCS.parent / "app" / "two_factor"
sys.path.insert(0, str(DOCS / "_ext"))


def _load_product() -> None:
    """Import app/two_factor as ``flask_two_factor`` (as tests/second_host/in_tree.py does), never an installed copy."""
    spec = importlib.util.spec_from_file_location(
        "flask_two_factor", SOURCE / "__init__.py", submodule_search_locations=[str(SOURCE)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["flask_two_factor"] = module
    spec.loader.exec_module(module)


_load_product()
import flask_two_factor  # noqa: E402

project = "flask-two-factor"
author = "flask-two-factor contributors"
release = version = flask_two_factor.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "config_reference"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# screenshots/ has its own README for whoever regenerates them; it is not part of these docs.
exclude_patterns = ["_build", "screenshots"]

# integration.md links to its own sections as on GitHub (#configuration, #sessions, ...).
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = f"flask-two-factor {release}"
html_show_sourcelink = False
html_show_copyright = False  # no copyright holder is named anywhere in the project yet
