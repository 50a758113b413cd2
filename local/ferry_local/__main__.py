"""`make run`: the whole system on 127.0.0.1, seeded with demo tenants, keys and data."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from ferry_local.demo import seed_demo_data
from ferry_local.stack import LocalStack

DEFAULT_KEYS = "tenant-a:ferry-demo-key-a,tenant-b:ferry-demo-key-b"


def parse_keys(text: str) -> dict[str, str]:
    keys = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        tenant, sep, key = pair.partition(":")
        if not sep or not tenant or not key:
            raise SystemExit(f"FERRY_LOCAL_KEYS: expected tenant:key, got {pair!r}")
        keys[tenant] = key
    return keys


def main() -> None:
    keys = parse_keys(os.environ.get("FERRY_LOCAL_KEYS", DEFAULT_KEYS))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    # The handlers' JSON logs are for CloudWatch; on a console only warnings and errors are worth a line.
    parameters = {"LogLevel": os.environ.get("FERRY_LOG_LEVEL", "WARNING")}
    with LocalStack(state_dir=Path(".state"), keys=keys, port=int(os.environ.get("PORT", "3000")), parameters=parameters) as stack:
        seeded = seed_demo_data(stack)
        tenant, key = next(iter(keys.items()))
        print(f"\nFerry is running on {stack.url}  (Ctrl-C stops it)")
        print("Demo API keys:")
        for name, value in keys.items():
            print(f"  {name}: {value}")
        print(f"Demo data: {seeded}")
        print("Job state and files are in memory and reset at restart; business data is kept in .state/entities.sqlite3.")
        print(f"Try: curl -s {stack.url}/jobs -H 'Authorization: Bearer {key}'\n", flush=True)
        stopping.wait()
    print("Ferry stopped.")


if __name__ == "__main__":
    main()
