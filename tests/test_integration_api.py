"""Adopting the product: the public API, init_app's early failures, layouts and overrides, migrations."""

from __future__ import annotations

import inspect
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask, session
from flask.testing import FlaskClient
from flask_login import LoginManager, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from tests.second_host.in_tree import ANN, ROOT, drop, make_test_app, models

# isort: split
# in_tree (above) makes flask_two_factor importable from the source tree.
import flask_two_factor
from flask_two_factor import ConfigurationError, InvalidKeyConfig, TwoFactor

REPO = Path(__file__).resolve().parent.parent
TABLES = ("two_factor_secrets", "two_factor_backup_codes", "two_factor_attempts")


# -- the public API ----------------------------------------------------------------------------


def test_public_api_is_exported() -> None:
    assert set(flask_two_factor.__all__) == {
        "ConfigurationError",
        "InvalidKeyConfig",
        "SecretUnreadable",
        "TwoFactor",
        "backup_code_used",
        "backup_codes_regenerated",
        "browser_remembered",
        "two_factor_disabled",
        "two_factor_enabled",
        "two_factor_failed",
        "two_factor_locked",
        "two_factor_required",
    }
    assert all(getattr(flask_two_factor, name) is not None for name in flask_two_factor.__all__)


def test_two_factor_takes_the_documented_hooks_as_keywords() -> None:
    parameters = inspect.signature(TwoFactor).parameters
    assert next(iter(parameters)) == "app"
    hooks = {"db", "check_password", "load_user", "display_name", "find_user", "required", "limiter", "clock"}
    assert hooks <= set(parameters)
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in hooks)
    assert list(inspect.signature(TwoFactor.start_challenge).parameters)[:3] == ["self", "user", "next_url"]


def test_every_signal_documents_its_arguments() -> None:
    from flask_two_factor import signals

    lines = inspect.getsource(signals).splitlines()
    for name in signals.__all__:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name} = "))
        assert lines[index - 1].startswith("#:") and "Keyword arguments: ``user_id``" in lines[index - 1], name


def test_integration_guide_documents_every_config_key_and_signal() -> None:
    from flask_two_factor import signals
    from flask_two_factor.extension import DEFAULTS

    guide = (REPO / "docs" / "integration.md").read_text()
    for name in [*DEFAULTS, *signals.__all__]:
        assert f"`{name}`" in guide, name


# -- init_app fails early and clearly ----------------------------------------------------------


def _bare_app(missing: str = "") -> Flask:
    """Return an app with every prerequisite except ``missing``."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k", SQLALCHEMY_DATABASE_URI="sqlite://")
    if missing != "keys":
        app.config["TWO_FACTOR_ENCRYPTION_KEYS"] = "not-a-fernet-key" if missing == "bad key" else _key()
    if missing != "db":
        SQLAlchemy().init_app(app)
    if missing != "login":
        login_manager = LoginManager(app)
        if missing != "loader":
            login_manager.user_loader(lambda user_id: None)
    if missing != "csrf":
        CSRFProtect(app)
    return app


def _key() -> str:
    return Fernet.generate_key().decode()


def _check(user: object, password: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("missing", "error", "message"),
    [
        ("login", ConfigurationError, "needs Flask-Login: call LoginManager.init_app(app) first"),
        ("db", ConfigurationError, "needs Flask-SQLAlchemy: pass db= or call db.init_app(app) first"),
        ("loader", ConfigurationError, "pass load_user= or register @login_manager.user_loader"),
        ("keys", ConfigurationError, "TWO_FACTOR_ENCRYPTION_KEYS is not set"),
        ("bad key", InvalidKeyConfig, "TWO_FACTOR_ENCRYPTION_KEYS"),
    ],
)
def test_init_app_names_the_missing_prerequisite(missing: str, error: type[Exception], message: str) -> None:
    app = _bare_app(missing)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        TwoFactor(app, check_password=_check)
    assert "two_factor" not in app.blueprints and "two_factor" not in app.extensions


def test_init_app_refuses_a_check_password_that_is_not_callable() -> None:
    with pytest.raises(ConfigurationError, match=r"check_password= must be a callable\(user, password\) -> bool"):
        TwoFactor(_bare_app(), check_password="user.check_password")  # type: ignore[arg-type]


def test_init_app_needs_a_callable_required_hook() -> None:
    with pytest.raises(ConfigurationError, match="required= must be a callable"):
        TwoFactor(_bare_app(), check_password=_check, required=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("issuer", ["Acme:Corp", ":"])
def test_init_app_refuses_an_issuer_with_a_colon(issuer: str) -> None:
    app = _bare_app()
    app.config["TWO_FACTOR_ISSUER"] = issuer
    with pytest.raises(ConfigurationError, match=r"TWO_FACTOR_ISSUER must not contain ':' \(authenticator apps"):
        TwoFactor(app, check_password=_check)
    assert "two_factor" not in app.blueprints and "two_factor" not in app.extensions


def test_load_user_hook_replaces_a_user_loader() -> None:
    app = _bare_app("loader")
    TwoFactor(app, check_password=_check, load_user=lambda user_id: None)
    assert "two_factor" in app.blueprints


def test_extension_keeps_no_app_and_serves_two_apps() -> None:
    two_factor = TwoFactor(check_password=_check)
    first, second = _bare_app(), _bare_app()
    second.config["TWO_FACTOR_URL_PREFIX"] = "/account/2fa"
    two_factor.init_app(first)
    two_factor.init_app(second)
    assert "app" not in vars(two_factor)
    assert first.extensions["two_factor"] is not second.extensions["two_factor"]
    assert first.url_map.bind("").match("/2fa/settings")[0] == "two_factor.settings"
    assert second.url_map.bind("").match("/account/2fa/settings")[0] == "two_factor.settings"


def test_passing_the_app_to_the_constructor_keeps_no_app_either() -> None:
    assert "app" not in vars(TwoFactor(_bare_app(), check_password=_check))


def test_init_app_puts_the_tables_in_the_hosts_metadata() -> None:
    app = _bare_app()
    TwoFactor(app, check_password=_check)
    assert set(TABLES) <= set(app.extensions["sqlalchemy"].metadata.tables)


# -- layouts and overrides ---------------------------------------------------------------------


@pytest.fixture
def make_host(tmp_path: Path) -> Iterator:
    apps: list[Flask] = []

    def make(template_folder: str = "templates", **config: object) -> Flask:
        app = make_test_app(tmp_path / f"host{len(apps)}.db", template_folder=template_folder, **config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        drop(app)


def _signed_in(app: Flask, email: str = ANN) -> FlaskClient:
    """Return a client with a signed-in session: made by login_user, since one made up in the cookie has no record."""
    with app.test_request_context():
        assert login_user(models.find_user(email))
        signed_in = dict(session)
    client = app.test_client()
    with client.session_transaction() as stored:
        stored.update(signed_in)
    return client


def _settings_as(app: Flask) -> str:
    response = _signed_in(app).get("/2fa/settings")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_pages_extend_the_hosts_base_template(make_host) -> None:
    html = _settings_as(make_host())
    assert '<body data-host="ledger">' in html and 'class="tf-layout"' not in html


def test_pages_use_the_standalone_layout_when_the_host_has_no_base(make_host, tmp_path: Path) -> None:
    empty = tmp_path / "no-templates"
    empty.mkdir()
    app = make_host(template_folder=str(empty))
    html = _settings_as(app)
    assert '<body class="tf-layout" hx-headers=\'{"X-CSRFToken": "' in html and "Security settings" in html
    assert '<meta name="csrf-token"' in html and 'name="htmx-config"' in html
    assert app.test_client().get("/2fa/static/two_factor_layout.css").status_code == 200


def test_base_template_setting_picks_the_layout(make_host) -> None:
    html = _settings_as(make_host(TWO_FACTOR_BASE_TEMPLATE="two_factor/_layout.html"))
    assert '<body class="tf-layout" hx-headers=' in html and "data-host" not in html


def _host_templates(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return str(root)


BASE = (
    '<!doctype html><html><head>{% block head %}{% endblock %}</head><body data-host="custom">'
    "{% block content %}{% endblock %}</body></html>"
)


def test_host_overrides_a_fragment_by_shipping_one_of_the_same_name(make_host, tmp_path: Path) -> None:
    folder = _host_templates(
        tmp_path / "override",
        {"base.html": BASE, "two_factor/_status.html": '<div id="tf-status">The host’s own status panel</div>'},
    )
    html = _settings_as(make_host(template_folder=folder))
    assert "The host’s own status panel" in html and 'data-host="custom"' in html


def test_host_overrides_the_2fa_base_template(make_host, tmp_path: Path) -> None:
    frame = (
        '{% extends "base.html" %}{% block content %}<section class="host-frame">'
        "{% block two_factor_content %}{% endblock %}</section>{% endblock %}"
    )
    folder = _host_templates(tmp_path / "frame", {"base.html": BASE, "two_factor/base.html": frame})
    html = _settings_as(make_host(template_folder=folder))
    assert '<section class="host-frame">' in html and "Security settings" in html


# -- enforcement configuration -----------------------------------------------------------------


def test_exempt_endpoints_may_come_from_the_environment_as_a_list(make_host) -> None:
    app = make_host(TWO_FACTOR_ENFORCE_EXEMPT="static, pages.index")
    client = _signed_in(app, ROOT)  # an admin without 2FA
    assert client.get("/").status_code == 200
    assert client.get("/reports").location == "/2fa/settings"


def test_enforcement_is_off_without_the_required_hook() -> None:
    app = _bare_app()
    TwoFactor(app, check_password=_check)
    assert flask_two_factor.enforce.enforce_required not in app.before_request_funcs.get(None, [])


# -- the host's migration ----------------------------------------------------------------------

ADOPTER = """
from flask_migrate import Migrate
from tests.second_host.in_tree import create_app, db

app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite:///{db}", "TWO_FACTOR_ENCRYPTION_KEYS": "{key}"}})
Migrate(app, db, directory="{migrations}")
"""


def test_flask_db_migrate_autogenerates_the_product_tables(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    (tmp_path / "adopter.py").write_text(ADOPTER.format(db=tmp_path / "ledger.db", key=_key(), migrations=migrations))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    flask = [sys.executable, "-m", "flask", "--app", "adopter"]
    for command in (["db", "init"], ["db", "migrate", "-m", "two-factor tables"], ["db", "upgrade"]):
        done = subprocess.run([*flask, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    revision = next((migrations / "versions").glob("*.py")).read_text()
    assert all(f"op.create_table('{table}'" in revision for table in (*TABLES, "accounts"))
    assert "flask_two_factor" not in revision  # plain sa types: the revision does not import the product
    with sqlite3.connect(tmp_path / "ledger.db") as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(TABLES) <= names


def test_the_demo_host_uses_only_the_public_api() -> None:
    import ast

    public = {"app.two_factor", "app.two_factor.helpers", "app.two_factor.testing"}
    for path in sorted((REPO / "app").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and (node.module or "").startswith("two_factor"):
                module = f"app.{node.module}"
                assert module in public, f"{path.name} imports {module}"
                if module == "app.two_factor":
                    assert {alias.name for alias in node.names} <= set(flask_two_factor.__all__), path.name
