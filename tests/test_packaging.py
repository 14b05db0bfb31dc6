"""One import name: every folder installs under `tokwork`, editable or not, and no stray top-level packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.conftest import REPO

PACKAGES = ["tokwork", "trainers", "metrics", "transplant", "cli"]
IMPORT_ALL = "import tokwork.trainers, tokwork.metrics, tokwork.transplant, tokwork.cli, tokwork.formats"


def python(code: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env)


def test_installed_names_import_and_bare_folder_names_do_not(tmp_path):
    assert python(IMPORT_ALL, tmp_path).returncode == 0
    for bare in ("metrics", "cli", "trainers", "transplant"):
        outside = python(f"import {bare}", tmp_path)
        assert outside.returncode != 0 and "ModuleNotFoundError" in outside.stderr
        inside = python(f"import {bare}", REPO)  # the repo root is on sys.path here
        assert inside.returncode != 0 and f"import tokwork.{bare}, not the folder" in inside.stderr


def test_regular_install_puts_only_tokwork_in_site_packages(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in [*PACKAGES, "pyproject.toml", "README.md"]:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, source / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    top_level = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info"))
    assert top_level == ["bin", "tokwork"]
    installed = {p.name for p in (target / "tokwork").iterdir() if p.is_dir()}
    assert {"cli", "formats", "metrics", "trainers", "transplant"} <= installed
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = python(IMPORT_ALL + "; import tokwork.trainers as t; print(t.__file__)", tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(target))
    # every folder with an __init__.py is installed (a package missing from pyproject's list is not)
    expected = {(name, *init.parent.relative_to(source / name).parts)
                for name in PACKAGES for init in (source / name).rglob("__init__.py")}
    missing = sorted("/".join(folder) for folder in expected
                     if not (target / "tokwork" / "/".join(folder[1:] if folder[0] == "tokwork" else folder)
                             / "__init__.py").is_file())
    assert missing == [], f"package folders not installed (add them to pyproject's packages): {missing}"
