"""What `import ferry_api.app` (the API function's handler module, as the template names it) brings in at a cold start."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_IN_THE_API = ("pandas", "numpy", "pymongo", "aws_xray_sdk", "paramiko", "sqlalchemy")
CHILD = f"import json, sys; import ferry_api.app; print(json.dumps(sorted(m for m in {NOT_IN_THE_API!r} if m in sys.modules)))"


def test_the_api_handler_imports_no_heavy_or_worker_only_package():
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
    assert json.loads(done.stdout.splitlines()[-1]) == []
