"""Fetching a suite's sdist and building the venv its tests run in.

Everything lands under the cache folder (``.compat-cache/`` at the repo root, gitignored):
``sdist/`` holds the downloaded archives, ``src/NAME-VER/`` the unpacked trees the tests run
from, ``venv-NAME-pyX.Y/`` one venv per suite and Python.  A venv records what it was built
from in a stamp file; a changed suite spec, interpreter or glassloop path rebuilds it, an
unchanged one is reused, so a second run starts at once.  glassloop is installed editable,
so the venv always runs the checkout's current code.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import asdict
from pathlib import Path

from .suites import COMMON_DROP, HARNESS_REQUIREMENTS, Suite


class PrepareError(RuntimeError):
    """The sdist or the venv could not be made; the message says which step failed."""


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 normalization, so 'PyYAML', 'pyyaml' and 'py_yaml' are one drop entry."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str | None:
    """The distribution a requirement line names, or None for options and blank lines."""
    found = _NAME.match(line)
    return normalize(found.group(1)) if found else None


def find_python(version: str) -> str:
    """An interpreter for ``version`` ("3.11"): on PATH, else pyenv's, asked before trusted."""
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}"))
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    for exe in candidates:
        if not exe:
            continue
        try:
            got = subprocess.run(
                [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if got == version:
            return exe
    raise PrepareError(f"no working Python {version} found (PATH, pyenv)")


def fetch_sdist(suite: Suite, cache: Path) -> Path:
    """The suite's sdist archive, downloaded from the package index once."""
    folder = cache / "sdist"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{suite.dist}-{suite.version}"
    for existing in folder.glob(f"{stem}.tar.gz"):
        return existing
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
        "--no-build-isolation", f"{suite.dist}=={suite.version}", "-d", str(folder),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    found = list(folder.glob(f"{stem}.tar.gz"))
    if result.returncode != 0 or not found:
        # --no-build-isolation spares a metadata build env; some sdists need one.
        retry = [c for c in cmd if c != "--no-build-isolation"]
        result = subprocess.run(retry, capture_output=True, text=True)
        found = list(folder.glob(f"{stem}.tar.gz"))
    if not found:
        raise PrepareError(f"pip download {suite.dist}=={suite.version} failed:\n{result.stderr}")
    return found[0]


def unpack(archive: Path, cache: Path) -> Path:
    """The unpacked sdist tree (unpacked once; a stamp marks a complete unpack)."""
    root = cache / "src"
    name = archive.name.removesuffix(".tar.gz")
    tree = root / name
    stamp = root / f".{name}.unpacked"
    if stamp.exists() and tree.is_dir():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    if not tree.is_dir():
        raise PrepareError(f"{archive.name} did not unpack to {name}/")
    stamp.touch()
    return tree


def _group(groups: dict[str, list[object]], name: str, seen: set[str]) -> list[str]:
    """A PEP 735 dependency group, with its include-group entries expanded."""
    if name in seen:
        return []
    seen.add(name)
    result: list[str] = []
    for entry in groups.get(name, []):
        if isinstance(entry, str):
            result.append(entry)
        elif isinstance(entry, dict) and "include-group" in entry:
            result += _group(groups, str(entry["include-group"]), seen)
    return result


def declared_requirements(suite: Suite, tree: Path) -> list[str]:
    """The suite's test requirements as the sdist declares them, one requirement a line."""
    lines: list[str] = []
    pyproject: dict[str, object] = {}
    if (tree / "pyproject.toml").exists():
        pyproject = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
    for kind, name in suite.requirements:
        if kind == "file":
            for raw in (tree / name).read_text(encoding="utf-8").splitlines():
                line = raw.split(" #", 1)[0].strip()
                if line and not line.startswith(("#", "-")):
                    lines.append(line)
        elif kind == "group":
            groups = pyproject.get("dependency-groups", {})
            assert isinstance(groups, dict)
            lines += [" ".join(r.split()) for r in _group(groups, name, set())]
        else:
            project = pyproject.get("project", {})
            assert isinstance(project, dict)
            lines += list(project.get("optional-dependencies", {}).get(name, []))
    return lines


def chosen_requirements(suite: Suite, tree: Path) -> tuple[list[str], dict[str, str]]:
    """(requirements to install, {dropped line: why}) after the suite's and common drops."""
    drop = {normalize(k): v for k, v in {**COMMON_DROP, **suite.drop}.items()}
    for name in suite.keep:
        drop.pop(normalize(name), None)
    keep: list[str] = []
    dropped: dict[str, str] = {}
    for line in declared_requirements(suite, tree):
        name = requirement_name(line)
        if name is None:
            continue
        if name in drop:
            dropped[line] = drop[name]
        elif name == normalize(suite.dist):
            dropped[line] = "the framework itself: installed on its own"
        else:
            keep.append(line)
    keep += [r for r in HARNESS_REQUIREMENTS if requirement_name(r) not in
             {requirement_name(k) for k in keep}]  # fmt: skip
    return keep, dropped


def venv_python(venv: Path) -> Path:
    """The interpreter inside a venv."""
    return venv / "bin" / "python"


def ensure_venv(
    suite: Suite, tree: Path, python: str, pyver: str, glassloop: Path, cache: Path, *, log: Path
) -> Path:
    """The suite's venv for ``pyver``, built (or rebuilt after a change) with everything in it."""
    venv = cache / f"venv-{suite.name}-py{pyver}"
    requirements, _ = chosen_requirements(suite, tree)
    # Extras are installed through their requirement lists (Suite.requirements), so that
    # the drops apply to them too (uvicorn[standard] would bring uvloop).
    framework = str(tree) if suite.install == "sdist" else f"{suite.dist}=={suite.version}"
    wanted = {
        "suite": asdict(suite),
        "python": python,
        "glassloop": str(glassloop),
        "framework": framework,
        "requirements": requirements,
    }
    digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
    stamp = venv / ".glcompat-stamp"
    if stamp.exists() and stamp.read_text() == digest and venv_python(venv).exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:

        def step(cmd: list[str]) -> None:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                raise PrepareError(f"{suite.name}: '{' '.join(cmd[:4])} ...' failed; see {log}")

        step([python, "-m", "venv", str(venv)])
        pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet"]
        req_file = venv / "glcompat-requirements.txt"
        req_file.write_text("\n".join([framework, *requirements]) + "\n")
        step([*pip, "-r", str(req_file)])
        step([*pip, "--no-deps", "-e", str(glassloop)])
    stamp.write_text(digest)
    return venv
