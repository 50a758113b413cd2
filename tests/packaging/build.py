"""Reproduce what `sam build` makes of template.yaml, without SAM or Docker.

A layer built by a Makefile (BuildMethod makefile) is built by that Makefile's
target, as sam build runs it; another one gets its requirements pip-installed for
the template's architecture (manylinux2014 wheels for arm64, CPython 3.12, binaries
only) into python/, plus its ContentUri source copied next to them. Each function:
its CodeUri folder (and its own requirements.txt, if it ever gets one). The build
uses pip's ordinary cache, so a second build is mostly a copy.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry_local.template import Stack

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"

# `Architectures: [arm64]` in the template -> pip's platform tag.
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return Stack.from_template(path).template


class BuildFailed(RuntimeError):
    def __init__(self, command: list[str], output: str) -> None:
        super().__init__(f"build failed: {' '.join(command)}\n{output}")
        self.output = output


def python_for(version: str) -> str | None:
    """An interpreter of that CPython version, as `sam build` needs one: on PATH, else one pyenv installed."""
    found = [shutil.which(f"python{version}"), *sorted(map(str, (Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python{version}")))]
    for candidate in filter(None, found):
        done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


@dataclass
class Build:
    root: Path
    python_version: str
    architecture: str
    compiled_by: str  # the interpreter that compiled the Makefile-built layers' .pyc (the runtime's, when one is here)
    layers: dict[str, Path] = field(default_factory=dict)  # logical id -> the layer's unzipped root
    functions: dict[str, Path] = field(default_factory=dict)  # logical id -> the function's unzipped root


def _runtime_and_arch(template: dict[str, Any]) -> tuple[str, str]:
    function_globals = template.get("Globals", {}).get("Function", {})
    runtime = function_globals.get("Runtime", "python3.12")
    architectures = function_globals.get("Architectures", ["x86_64"])
    return runtime.removeprefix("python"), architectures[0]


def pip_install(requirements: Path, target: Path, python_version: str, architecture: str) -> None:
    command = [
        sys.executable, "-m", "pip", "install",
        "--disable-pip-version-check", "--no-input", "--quiet",
        "--platform", PIP_PLATFORMS[architecture],
        "--implementation", "cp",
        "--python-version", python_version,
        "--only-binary=:all:",
        "--target", str(target),
        "-r", str(requirements),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildFailed(command, done.stdout + done.stderr)


def make_target(source: Path, target: str, artifacts: Path, python: str) -> None:
    """What sam build does for BuildMethod makefile: the source folder's Makefile target, with ARTIFACTS_DIR."""
    artifacts.mkdir(parents=True)
    command = ["make", "-C", str(source), target, f"ARTIFACTS_DIR={artifacts}", f"PYTHON312={python}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, "MAKEFLAGS": ""})
    if done.returncode != 0:
        raise BuildFailed(command, done.stdout + done.stderr)


def _copy_source(source: Path, dest: Path) -> None:
    for item in sorted(source.iterdir()):
        if item.name == "requirements.txt" or item.name in {"__pycache__", ".pytest_cache"}:
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=IGNORED, dirs_exist_ok=True)
        else:
            shutil.copy2(item, dest / item.name)


def build(out: Path, template_path: Path = TEMPLATE) -> Build:
    """Build every layer and function of the template into `out`, one folder per logical id."""
    template = load_template(template_path)
    python_version, architecture = _runtime_and_arch(template)
    compiler = python_for(python_version) or sys.executable
    result = Build(out, python_version, architecture, compiler)
    repo = template_path.parent
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            source = repo / properties["ContentUri"]
            if resource.get("Metadata", {}).get("BuildMethod") == "makefile":
                make_target(source, f"build-{name}", out / name, compiler)
            else:
                site = out / name / "python"
                site.mkdir(parents=True)
                if (source / "requirements.txt").exists():
                    pip_install(source / "requirements.txt", site, python_version, architecture)
                _copy_source(source, site)
            result.layers[name] = out / name
        elif resource["Type"] == "AWS::Serverless::Function":
            source = repo / properties["CodeUri"]
            root = out / name
            root.mkdir(parents=True)
            if (source / "requirements.txt").exists():
                pip_install(source / "requirements.txt", root, python_version, architecture)
            _copy_source(source, root)
            result.functions[name] = root
    return result


def tree_size(root: Path) -> int:
    """Bytes of every file under root: what Lambda counts as the unzipped size."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


if __name__ == "__main__":  # python -m tests.packaging.build <out>: build and print the sizes
    import tempfile

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="ferry-build-"))
    b = build(out)
    for name, path in {**b.layers, **b.functions}.items():
        print(f"{name:<16} {tree_size(path) / 1e6:8.1f} MB  {path}")
