"""The distribution: a wheel of flask_two_factor with its templates and assets, served from fresh venvs.

The wheel and the two venvs (``lowest``: every dependency at its declared minimum; ``newest``: what the
index has) come from tests/wheel_venvs.py, made once per session (the third host's browser test reuses
``lowest``). Both run the same flow of the second host (settings page, setup, sign-in through the
challenge, the per-IP limit), where ``import flask_two_factor`` can only find the installed wheel.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.wheel_venvs import floors, normal

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "app" / "two_factor"
SECOND_HOST = Path(__file__).resolve().parent / "second_host"


def _source_files() -> list[str]:
    return sorted(
        path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def test_wheel_holds_the_package_with_its_templates_and_assets(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        htmx = archive.read("flask_two_factor/static/htmx.min.js")
    assert {name.split("/")[0] for name in names} == {"flask_two_factor", wheel.name.split("-")[0] + "-0.2.0.dist-info"}
    missing = [name for name in _source_files() if f"flask_two_factor/{name}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert "flask_two_factor/templates/two_factor/settings.html" in names
    assert htmx == (SOURCE / "static" / "htmx.min.js").read_bytes()


def _imported_distributions(wheel: Path) -> set[str]:
    """Return the distributions whose modules the wheel's code imports (absolute imports only)."""
    modules: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".py"):
                for node in ast.walk(ast.parse(archive.read(name))):
                    if isinstance(node, ast.Import):
                        modules.update(alias.name.split(".")[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"__future__"}
    providers = metadata.packages_distributions()
    return {_normal(providers[module][0]) for module in third_party}


_normal = normal


def _requirements(lines: list[str] | None, extra: str = "") -> set[str]:
    """Return the names of the requirements that apply here (markers evaluated, with ``extra`` asked for)."""
    names = set()
    for line in lines or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
            names.add(_normal(requirement.name))
    return names


def test_wheel_requires_every_distribution_its_code_imports(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires_dist = [line.split(":", 1)[1] for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    extras = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Provides-Extra:")]
    # An import used only when the host brings that library (Flask-Mailman for notices) is an extra.
    declared = _requirements(requires_dist).union(*(_requirements(requires_dist, extra) for extra in extras))
    # What `pip install` brings: the declared requirements and theirs, transitively.
    installed, todo = set(), list(declared)
    while todo:
        name = todo.pop()
        if name not in installed:
            installed.add(name)
            todo.extend(_requirements(metadata.requires(name)))
    assert _imported_distributions(wheel) <= installed


_floors = floors


def _pins() -> dict[str, Version]:
    """Return the exact pins of requirements.txt (the demo's and CI's set)."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            pins[_normal(requirement.name)] = Version(spec.version)
    return pins


def test_pinned_requirements_are_inside_the_supported_ranges() -> None:
    pins = _pins()
    for line in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        pin = pins.get(_normal(requirement.name))
        assert pin is None or requirement.specifier.contains(pin), f"requirements.txt pins {pin}, outside {line!r}"


SERVE = """
import hashlib, importlib.util, json, sys, time
from importlib import metadata
import flask_two_factor, pyotp
from cryptography.fernet import Fernet
from second_host import models
from second_host.browser import Browser
from second_host.host import create_app, db

app = create_app({
    "TESTING": True,
    "SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[1],
    "TWO_FACTOR_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
})
with app.app_context():
    db.create_all()
    models.add_user("ann@example.com", "ledger password 1")
visitor = Browser(app.test_client())
signed_in = visitor.sign_in("ann@example.com")
settings = visitor.client.get("/2fa/settings")
htmx = visitor.client.get("/2fa/static/htmx.min.js")
codes = visitor.enable(lambda secret: pyotp.TOTP(secret).now())
visitor.sign_out()
challenge = visitor.sign_in("ann@example.com", next_url="/reports")
totp = pyotp.TOTP(visitor.secret)
near = {totp.at(time.time() + offset) for offset in (-30, 0, 30)}
wrong = visitor.post_json("/2fa/validate", {"code": next(c for c in ("000000", "111111", "222222") if c not in near)})
valid = visitor.post_json("/2fa/validate", {"code": codes[0]})
reports = visitor.client.get("/reports")
# One 2FA POST a minute per IP: Flask-Limiter refuses the second with the product's 429.
app.config["TWO_FACTOR_RATE_LIMIT"] = "1 per minute"
limited = [visitor.post_json("/2fa/setup") for _ in range(2)][-1]
print(json.dumps({
    "product": flask_two_factor.__file__,
    "source_tree_importable": importlib.util.find_spec("app") is not None,
    "signed_in": signed_in.status_code,
    "settings_status": settings.status_code,
    "settings": settings.get_data(as_text=True),
    "htmx_sha256": hashlib.sha256(htmx.get_data()).hexdigest(),
    "backup_codes": len(codes),
    "challenge": [challenge.status_code, challenge.location],
    "wrong_code": wrong.status_code,
    "valid_backup_code": valid.get_json(),
    "protected_page": reports.status_code,
    "limited": [limited.status_code, limited.headers.get("Retry-After"), limited.get_json()],
    "versions": {dist.metadata["Name"]: dist.version for dist in metadata.distributions()},
}))
"""


@pytest.mark.parametrize("dependencies", ["lowest", "newest"])
def test_installed_wheel_serves_the_second_host(
    wheel_venv: Callable[[str], Path], tmp_path: Path, dependencies: str
) -> None:
    python = wheel_venv(dependencies)
    run = tmp_path / "run"
    shutil.copytree(SECOND_HOST, run / "second_host", ignore=shutil.ignore_patterns("__pycache__", "in_tree.py"))
    (run / "serve.py").write_text(SERVE)
    # -E -s: no PYTHONPATH, no user site; only the venv and the copied host are importable.
    done = subprocess.run(
        [str(python), "-E", "-s", "serve.py", str(tmp_path / "ledger.db")],
        cwd=run,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert Path(result["product"]).is_relative_to(python.parent.parent)
    assert result["source_tree_importable"] is False
    assert result["signed_in"] == 303 and result["settings_status"] == 200
    assert '<body data-host="ledger">' in result["settings"] and 'name="htmx-config"' in result["settings"]
    assert result["htmx_sha256"] == hashlib.sha256((SOURCE / "static" / "htmx.min.js").read_bytes()).hexdigest()
    assert result["backup_codes"] == 10
    assert result["challenge"] == [303, "/2fa/challenge"] and result["wrong_code"] == 401
    assert result["valid_backup_code"] == {"valid": True, "required": True, "redirect": "/reports"}
    assert result["protected_page"] == 200
    status, retry_after, body = result["limited"]
    assert status == 429 and int(retry_after) > 0 and body["retryAfter"] == int(retry_after)

    installed = {_normal(name): Version(version) for name, version in result["versions"].items()}
    floors = _floors()
    print(dependencies, {name: str(installed[name]) for name in sorted(floors)})
    if dependencies == "lowest":
        assert {name: installed[name] for name in floors} == floors
    else:
        pins = _pins()
        stale = {name: str(installed[name]) for name in floors if name in pins and installed[name] < pins[name]}
        assert not stale, f"older than requirements.txt pins: {stale}"
