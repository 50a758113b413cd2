"""The deployment packages `sam build` would make for template.yaml fit Lambda and its architecture.

The build (tests/packaging/build.py) pip-installs the layer's requirements for
arm64 / CPython 3.12 from PyPI, so these tests need the network; a failing pip
fails them with pip's output.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.build import Build, BuildFailed, build, tree_size

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function code + all its layers, unzipped
HEAVY = ("pandas", "numpy")
OWN_FUNCTION_PACKAGES = ("ferry_api", "ferry_authorizer", "ferry_worker", "ferry_sweeper", "ferry_notifier", "ferry_scheduler")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """One build per test session; pytest-xdist workers share it through a lock in the session's temp root."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # .../pytest-N, this session's own
    out = shared / "sam-build"
    done = shared / "sam-build.json"
    with (shared / "sam-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return _decode(json.loads(done.read_text()))
        shutil.rmtree(out, ignore_errors=True)  # a build another worker started and did not finish
        try:
            result = build(out)
        except BuildFailed as exc:
            pytest.fail(str(exc), pytrace=False)
        done.write_text(json.dumps(_encode(result)))
        return result


def _encode(b: Build) -> dict:
    paths = lambda d: {k: str(v) for k, v in d.items()}  # noqa: E731
    return {**vars(b), "root": str(b.root), "layers": paths(b.layers), "functions": paths(b.functions)}


def _decode(d: dict) -> Build:
    paths = lambda d: {k: Path(v) for k, v in d.items()}  # noqa: E731
    return Build(**{**d, "root": Path(d["root"]), "layers": paths(d["layers"]), "functions": paths(d["functions"])})


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def test_the_template_is_built_for_arm64_with_a_layer_and_its_functions(built: Build) -> None:
    assert built.architecture == "arm64"
    assert built.python_version == "3.12"
    assert set(built.layers) == {"FerryLayer"}
    assert set(built.functions) == {"ApiFunction", "AuthorizerFunction", "WorkerFunction", "SweeperFunction", "NotifierFunction", "SchedulerFunction"}
    assert (built.layers["FerryLayer"] / "python" / "ferry" / "__init__.py").is_file()
    assert (built.functions["ApiFunction"] / "ferry_api" / "app.py").is_file()
    assert (built.functions["WorkerFunction"] / "ferry_worker" / "handler.py").is_file()
    assert (built.functions["SweeperFunction"] / "ferry_sweeper" / "handler.py").is_file()


def test_the_layer_ships_every_module_compiled_for_the_runtime(built: Build) -> None:
    # Lambda cannot write .pyc to /opt: a module shipped without one is compiled again at every cold start.
    tag = subprocess.run([built.compiled_by, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True, text=True, check=True).stdout.strip()
    site = built.layers["FerryLayer"] / "python"
    modules = list(site.rglob("*.py"))
    missing = [p for p in modules if not (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").is_file()]
    assert len(modules) > 1000 and not missing, missing[:10]
    runtime_tag = "cpython-" + built.python_version.replace(".", "")
    if tag != runtime_tag:
        pytest.skip(f"no CPython {built.python_version} here: the layer was compiled as {tag}, Lambda reads {runtime_tag}")


@pytest.mark.parametrize("function", ["ApiFunction", "WorkerFunction", "SweeperFunction"])
def test_function_and_layer_fit_lambdas_unzipped_limit(built: Build, function: str) -> None:
    layer = tree_size(built.layers["FerryLayer"])
    code = tree_size(built.functions[function])
    total = layer + code
    print(f"{function}: code {_mb(code)} + FerryLayer {_mb(layer)} = {_mb(total)} (limit {_mb(LAMBDA_UNZIPPED_LIMIT)})")
    assert total < LAMBDA_UNZIPPED_LIMIT, f"{function} unzipped {_mb(total)} >= {_mb(LAMBDA_UNZIPPED_LIMIT)}"


def _heavy_packages(root: Path) -> list[str]:
    """Top-level modules or distributions named like a heavy package, anywhere under root."""
    found = []
    for path in root.rglob("*"):
        name = path.name.lower()
        stem = name.split("-")[0].removesuffix(".py")
        if stem in HEAVY and (path.is_dir() or name.endswith(".py")):
            found.append(str(path.relative_to(root)))
    return sorted(found)


_HEAVY_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:%s)\b" % "|".join(HEAVY), re.MULTILINE)


@pytest.mark.parametrize("where", ["FerryLayer", "ApiFunction"])
def test_no_pandas_or_numpy_in_the_layer_or_the_api_function(built: Build, where: str) -> None:
    root = built.layers.get(where) or built.functions[where]
    assert _heavy_packages(root) == []
    sources = root / "python" / "ferry" if where == "FerryLayer" else root
    importing = [str(p.relative_to(root)) for p in sources.rglob("*.py") if _HEAVY_IMPORT.search(p.read_text("utf-8"))]
    assert importing == [], f"these import {' or '.join(HEAVY)}"


def test_every_wheel_in_the_layer_is_pure_python_or_aarch64(built: Build) -> None:
    site = built.layers["FerryLayer"] / "python"
    dist_infos = sorted(site.glob("*.dist-info"))
    assert dist_infos, "pip installed nothing into the layer"
    wrong: dict[str, list[str]] = {}
    for dist_info in dist_infos:
        wheel = dist_info / "WHEEL"
        assert wheel.is_file(), f"{dist_info.name} has no WHEEL file"
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        assert tags, f"{dist_info.name}/WHEEL has no Tag line"
        bad = [t for t in tags if "x86_64" in t or not (t.endswith("-any") or "aarch64" in t)]
        if bad:
            wrong[dist_info.name] = bad
    assert wrong == {}, "wheels built for another platform than arm64"


_FUNCTION_IMPORT = re.compile(
    r"^\s*(?:from\s+(?:%(p)s)\b|import\s+[^#\n]*\b(?:%(p)s)\b)|import_module\(\s*[\"'](?:%(p)s)\b"
    % {"p": "|".join(OWN_FUNCTION_PACKAGES)},
    re.MULTILINE,
)


def test_the_layers_ferry_package_imports_nothing_from_the_functions(built: Build) -> None:
    ferry = built.layers["FerryLayer"] / "python" / "ferry"
    offenders = {
        str(p.relative_to(ferry)): [m.group(0).strip() for m in _FUNCTION_IMPORT.finditer(p.read_text("utf-8"))]
        for p in sorted(ferry.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}



# Lambda's python3.12 runtime has its own boto3 and botocore; a second copy in the layer would shadow it, unpatched.
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "aws_xray_sdk")


def test_the_layer_ships_no_aws_sdk_of_its_own(built: Build) -> None:
    site = built.layers["FerryLayer"] / "python"
    assert sorted(p.name for p in site.iterdir() if p.name.split("-")[0].lower() in RUNTIME_SDK) == []
