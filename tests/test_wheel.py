"""The distribution: a wheel of flask_two_factor with its templates and assets, served from a fresh venv.

The fresh venv has no system site-packages and nothing of this repository; the wheel is installed into
it with pip. Its dependencies come, offline and fast, from the dev venv's site-packages through a .pth
line placed after the venv's own; ``TWO_FACTOR_WHEEL_DEPS=pypi`` installs them from the index instead.
Either way ``import flask_two_factor`` can only find the installed wheel.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "app" / "two_factor"
SECOND_HOST = Path(__file__).resolve().parent / "second_host"
PYPI = os.environ.get("TWO_FACTOR_WHEEL_DEPS") == "pypi"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)]
    done = subprocess.run(build, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return next(out.glob("flask_two_factor-*.whl"))


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
    assert {name.split("/")[0] for name in names} == {"flask_two_factor", wheel.name.split("-")[0] + "-0.1.0.dist-info"}
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


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(lines: list[str] | None) -> set[str]:
    """Return the names of the requirements that apply here (markers evaluated, extras not asked for)."""
    names = set()
    for line in lines or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.add(_normal(requirement.name))
    return names


def test_wheel_requires_every_distribution_its_code_imports(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires_dist = [line.split(":", 1)[1] for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    declared = _requirements(requires_dist)
    # What `pip install` brings: the declared requirements and theirs, transitively.
    installed, todo = set(), list(declared)
    while todo:
        name = todo.pop()
        if name not in installed:
            installed.add(name)
            todo.extend(_requirements(metadata.requires(name)))
    assert _imported_distributions(wheel) <= installed


SERVE = """
import hashlib, importlib.util, json, sys
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
print(json.dumps({
    "product": flask_two_factor.__file__,
    "source_tree_importable": importlib.util.find_spec("app") is not None,
    "signed_in": signed_in.status_code,
    "settings_status": settings.status_code,
    "settings": settings.get_data(as_text=True),
    "htmx_sha256": hashlib.sha256(htmx.get_data()).hexdigest(),
    "backup_codes": len(codes),
}))
"""


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """Create a venv without system site-packages and pip-install the wheel into it; return its python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check"]
    install += [str(wheel)] if PYPI else ["--no-deps", "--no-index", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    if not PYPI:
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (Path(site) / "zz_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_installed_wheel_serves_the_second_host(wheel: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path, wheel)
    run = tmp_path / "run"
    shutil.copytree(SECOND_HOST, run / "second_host", ignore=shutil.ignore_patterns("__pycache__", "in_tree.py"))
    (run / "serve.py").write_text(SERVE)
    # -E -s: no PYTHONPATH, no user site; only the venv, its .pth line and the copied host are importable.
    done = subprocess.run(
        [str(python), "-E", "-s", "serve.py", str(tmp_path / "ledger.db")],
        cwd=run,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert Path(result["product"]).is_relative_to(tmp_path / "venv")
    assert result["source_tree_importable"] is False
    assert result["signed_in"] == 303 and result["settings_status"] == 200
    assert '<body data-host="ledger">' in result["settings"] and 'name="htmx-config"' in result["settings"]
    assert result["htmx_sha256"] == hashlib.sha256((SOURCE / "static" / "htmx.min.js").read_bytes()).hexdigest()
    assert result["backup_codes"] == 10
