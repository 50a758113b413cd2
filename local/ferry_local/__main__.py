"""`make run`: the whole system on 127.0.0.1, seeded with demo tenants, keys and data.

PORT (default 3000) is the HTTP API's port; FERRY_LOCAL_KEYS (`tenant:key,tenant:key`)
the demo API keys; FERRY_LOG_LEVEL the handlers' log level (default WARNING).
"""
from __future__ import annotations

import errno
import os
import signal
import threading
from pathlib import Path

from ferry_local.demo import DEMO_SFTP_PASSWORD, DEMO_SFTP_USER, seed_demo_data
from ferry_local.file_servers import SftpServer
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
    # The demo SFTP server is on loopback: "localhost" is let through the guard that keeps exports off private addresses.
    # GeocodeAddresses places addresses with the offline gazetteer: no Amazon Location here.
    parameters = {"LogLevel": os.environ.get("FERRY_LOG_LEVEL", "WARNING"), "AllowedPrivateHosts": "localhost", "Geocoder": "gazetteer"}
    port = int(os.environ.get("PORT", "3000"))
    seeded: list[str] = []
    # A real SFTP server on loopback, for exports to land in a folder you can open (.state/sftp/exports).
    sftp_root = Path(".state") / "sftp"
    (sftp_root / "exports").mkdir(parents=True, exist_ok=True)
    sftp = SftpServer(sftp_root, {DEMO_SFTP_USER: DEMO_SFTP_PASSWORD}).__enter__()
    stack = LocalStack(
        state_dir=Path(".state"),
        keys=keys,
        port=port,
        parameter_overrides=parameters,
        on_ready=lambda s: seeded.append(seed_demo_data(s, sftp)),
    )
    try:
        stack.start()
    except OSError as exc:
        sftp.__exit__(None, None, None)
        if exc.errno != errno.EADDRINUSE:
            raise
        raise SystemExit(f"Port {port} is in use; run with another, e.g. PORT=3001 make run") from None
    try:
        tenant, key = next(iter(keys.items()))
        print(f"\nFerry is running on {stack.url}  (Ctrl-C stops it)")
        print("Demo API keys:")
        for name, value in keys.items():
            print(f"  {name}: {value}")
        print(f"  more: PORT={port} make key TENANT=<tenant> NAME=<whose key>  (make keys lists them, make revoke KEY_ID=... revokes)")
        print(f"Demo data: {seeded[0]}")
        print(f"SFTP server for exports: sftp://{DEMO_SFTP_USER}@127.0.0.1:{sftp.port} (password {DEMO_SFTP_PASSWORD!r}), files in {sftp_root / 'exports'}")
        print("Job state and files are in memory and reset at restart; business data is kept in .state/entities.sqlite3.")
        print("Procedures (GET /Integration/<endpoint>) read and write the demo ERP in .state/erp.sqlite3; mails they send are printed here.")
        print(f"Try: curl -s {stack.url}/jobs -H 'Authorization: Bearer {key}'\n", flush=True)
        printed = 0
        while not stopping.wait(1.0):
            mails = stack.sent_mails()
            for mail in mails[printed:]:
                print(f"\n--- mail to {', '.join(mail['to'])}: {mail['subject']}\n{mail['body']}---", flush=True)
            printed = len(mails)
    finally:
        stack.stop()
        sftp.__exit__(None, None, None)
    print("Ferry stopped.")


if __name__ == "__main__":
    main()
