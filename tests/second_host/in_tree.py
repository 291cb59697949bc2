"""The second host against this source tree: ``app/two_factor`` imported under its installed name.

An adopter has ``flask_two_factor`` from the wheel; in-tree tests load the same directory under that
name (every import inside the package is relative), so the host code reads exactly as an adopter's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from flask import Flask

SOURCE = Path(__file__).resolve().parents[2] / "app" / "two_factor"


def load_product() -> None:
    """Make ``import flask_two_factor`` load app/two_factor (this tree, never a stale installed copy)."""
    loaded = sys.modules.get("flask_two_factor")
    if loaded is not None:
        if Path(loaded.__file__ or "").resolve().parent != SOURCE:
            raise RuntimeError(f"flask_two_factor was already imported from {loaded.__file__}, not {SOURCE}")
        return
    spec = importlib.util.spec_from_file_location(
        "flask_two_factor", SOURCE / "__init__.py", submodule_search_locations=[str(SOURCE)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["flask_two_factor"] = module
    spec.loader.exec_module(module)


load_product()

from . import models  # noqa: E402
from .browser import PASSWORD  # noqa: E402
from .host import create_app, db, two_factor  # noqa: E402

__all__ = ["create_app", "db", "make_test_app", "models", "two_factor"]
ANN, ROOT = "ann@example.com", "root@example.com"


def make_test_app(db_path: Path, template_folder: str = "templates", **overrides: Any) -> Flask:
    """Return the second host on a fresh SQLite file with Ann (id 1) and Root (id 2, an admin)."""
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "TWO_FACTOR_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast hashes: these tests are not about passwords
        **overrides,
    }
    app = create_app(config, template_folder=template_folder)
    with app.app_context():
        db.create_all()
        models.add_user(ANN, PASSWORD)
        models.add_user(ROOT, PASSWORD, is_admin=True)
    return app


def drop(app: Flask) -> None:
    """Drop the tables and close the connections of an app made by make_test_app."""
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
