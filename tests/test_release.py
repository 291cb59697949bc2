"""The release: Sphinx docs built with warnings as errors, an sdist and a wheel that pass twine, one version.

The version is written once, ``__version__`` in app/two_factor/__init__.py; hatchling reads it into the
distribution's metadata, the docs show it, and CHANGES.md must have a section for it.
"""

from __future__ import annotations

import email
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.second_host.in_tree import ROOT  # noqa: F401  (makes flask_two_factor importable)

# isort: split
import flask_two_factor
from flask_two_factor import TwoFactor, testing
from flask_two_factor.extension import DEFAULTS

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist, then the wheel from it, as a release would."""
    out = tmp_path_factory.mktemp("dist")
    _run("-m", "build", "--no-isolation", "--outdir", str(out), str(REPO))
    return out


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    _run("-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(REPO / "docs"), str(out))
    return out


def test_docs_build_with_warnings_as_errors(html: Path) -> None:
    pages = {path.stem for path in html.glob("*.html")}
    assert {"index", "integration", "configuration", "api", "changes"} <= pages
    assert f"flask-two-factor {flask_two_factor.__version__}" in (html / "index.html").read_text()


def test_api_reference_documents_the_whole_public_api(html: Path) -> None:
    documented = set(re.findall(r'id="flask_two_factor\.([\w.]+)"', (html / "api.html").read_text()))
    names = {name.rsplit(".", 1)[-1] for name in documented}
    assert set(flask_two_factor.__all__) <= names
    methods = {name for name, value in vars(TwoFactor).items() if callable(value) and not name.startswith("_")}
    assert {f"TwoFactor.{method}" for method in methods} <= documented
    assert {f"testing.{name}" for name in testing.__all__} <= documented


def test_configuration_reference_lists_every_setting(html: Path) -> None:
    # The build itself warns (an error under -W) about a key or a default the guide's table gets wrong.
    page = (html / "configuration.html").read_text()
    assert "@CONFIGURATION_TABLE@" not in page
    assert [key for key in DEFAULTS if key not in page] == []


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    files = sorted(dist.iterdir())
    version = flask_two_factor.__version__
    assert [path.name for path in files] == [
        f"flask_two_factor-{version}-py3-none-any.whl",
        f"flask_two_factor-{version}.tar.gz",
    ]
    _run("-m", "twine", "check", "--strict", *map(str, files))
    with tarfile.open(dist / f"flask_two_factor-{version}.tar.gz") as sdist:
        top = {name.split("/")[1] for name in sdist.getnames() if "/" in name}
    assert top == {"app", "CHANGES.md", "LICENSE", "README.md", "pyproject.toml", "PKG-INFO", ".gitignore"}


def test_wheel_metadata_carries_classifiers_and_keywords(dist: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        meta = email.message_from_bytes(archive.read(next(n for n in archive.namelist() if n.endswith("/METADATA"))))
    classifiers = set(meta.get_all("Classifier"))
    assert {"Framework :: Flask", "Topic :: Security", "Programming Language :: Python :: 3.11"} <= classifiers
    assert any(classifier.startswith("Development Status ::") for classifier in classifiers)
    assert meta["License-Expression"] == "MIT" and meta["Version"] == flask_two_factor.__version__
    assert {"flask", "totp", "2fa"} <= set(meta["Keywords"].split(","))


def test_installed_wheel_reports_the_version_of_its_metadata(dist: Path, tmp_path: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    # The wheel itself on sys.path (a pure wheel imports from the zip); -E -s and cwd keep this tree out.
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from importlib import metadata\n"
        "import flask_two_factor as p\n"
        "print(json.dumps([p.__file__, p.__version__, metadata.version('flask-two-factor')]))"
    )
    done = _run("-E", "-s", "-c", script, str(wheel), cwd=tmp_path)
    imported_from, reported, distribution = json.loads(done.stdout)
    assert imported_from.startswith(str(wheel))
    assert reported == distribution == flask_two_factor.__version__


def test_changelog_has_a_section_for_this_version() -> None:
    versions = re.findall(r"^## Version (\S+)$", (REPO / "CHANGES.md").read_text(), re.MULTILINE)
    assert versions[0] == flask_two_factor.__version__
