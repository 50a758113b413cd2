"""The domain stays domain: no AWS SDK, no MongoDB driver, no environment, no handler, outside the adapters."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

FERRY = Path(__file__).resolve().parents[2] / "layers" / "ferry" / "ferry"
# The adapters and the wiring are where the outside world is allowed in.
ADAPTERS = {"aws", "store/mongo.py", "store/sqlite.py", "wiring.py"}
FORBIDDEN = {"boto3", "botocore", "pymongo", "ferry_api", "ferry_authorizer", "ferry_admin", "ferry_worker", "ferry_sweeper", "ferry_notifier", "ferry_scheduler", "ferry_local"}


def _domain_modules() -> list[Path]:
    return [
        p for p in sorted(FERRY.rglob("*.py"))
        if not any(str(p.relative_to(FERRY)).startswith(adapter) for adapter in ADAPTERS)
    ]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("module", _domain_modules(), ids=lambda p: str(p.relative_to(FERRY)))
def test_a_domain_module_imports_no_sdk_driver_or_handler(module: Path):
    assert _imports(module) & FORBIDDEN == set()


@pytest.mark.parametrize("module", _domain_modules(), ids=lambda p: str(p.relative_to(FERRY)))
def test_a_domain_module_reads_no_environment(module: Path):
    text = module.read_text(encoding="utf-8")
    assert "os.environ" not in text and "getenv" not in text
