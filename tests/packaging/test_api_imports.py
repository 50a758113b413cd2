"""What importing the API function's handler module (`ferry_api.handler`, as template.yaml names it) brings in at a cold start."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_IN_THE_API = ("pandas", "numpy", "pymongo", "aws_xray_sdk", "paramiko", "sqlalchemy")
CHILD = (
    "import gc, json, sys; import ferry_api.handler; "
    f"print(json.dumps({{'heavy': sorted(m for m in {NOT_IN_THE_API!r} if m in sys.modules), 'collector_on': gc.isenabled(), 'frozen': gc.get_freeze_count()}}))"
)


def test_the_api_handler_imports_no_heavy_package_and_leaves_the_collector_on():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FERRY_", "MONGODB_", "POWERTOOLS_"))}
    env |= {
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("layers/ferry", "functions/api")),
        "FERRY_JOBS_TABLE": "jobs",
        "FERRY_API_KEYS_TABLE": "keys",
        "FERRY_FILES_BUCKET": "files",
        "FERRY_SQLITE_PATH": "/tmp/ferry-api-imports-unused.sqlite3",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["heavy"] == []
    # Imported with the collector paused, then frozen (collector.loading): on again for what requests make.
    assert found["collector_on"] is True
    assert found["frozen"] > 10_000
