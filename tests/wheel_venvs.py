"""The built wheel and its fresh venvs, made once per test session and shared by every test that needs them.

A venv has no system site-packages and nothing of this repository; pip installs the wheel and its
dependencies from the package index (through pip's usual download cache), in two sets: ``lowest``,
every dependency at the minimum pyproject.toml declares (a ``--constraint`` file made from its ``>=``
bounds), and ``newest``, a plain ``pip install`` of the wheel. Tests only run code in them, never
install into them, so one of each serves the whole session.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent


def normal(name: str) -> str:
    """Return a distribution name in its normal form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def floors() -> dict[str, Version]:
    """Return each dependency of pyproject.toml with its declared minimum; each must have one ``>=`` bound."""
    found = {}
    for line in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        bounds = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(bounds) == 1, f"{line!r}: every dependency needs one >= bound, which the lowest set tests"
        found[normal(requirement.name)] = Version(bounds[0])
    return found


def make_venv(root: Path, wheel: Path, dependencies: str) -> Path:
    """Create ``root/venv`` (no system site-packages), pip-install the wheel and its dependencies; return its python."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check"]
    if dependencies == "lowest":
        constraints = root / "lowest.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in floors().items()))
        install += ["--constraint", str(constraints)]
    done = subprocess.run([*install, str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return python


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this tree (no isolation: the build backend comes from the dev venv)."""
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)]
    done = subprocess.run(build, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return next(out.glob("flask_two_factor-*.whl"))


@pytest.fixture(scope="session")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Return ``venv(dependencies)``: the python of the session's venv for ``"lowest"`` or ``"newest"``, made once."""
    made: dict[str, Path] = {}

    def venv(dependencies: str) -> Path:
        assert dependencies in ("lowest", "newest"), dependencies
        if dependencies not in made:
            made[dependencies] = make_venv(tmp_path_factory.mktemp(f"venv-{dependencies}"), wheel, dependencies)
        return made[dependencies]

    return venv
