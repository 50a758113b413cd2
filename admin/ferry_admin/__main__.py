"""`python -m ferry_admin keys create|list|revoke`: API keys of a deployed stack (--stack) or of the running `make run`.

A new key is printed once and never again: only its SHA-256 hash is stored. A revoked key
stops working within the authorizer's cache time (the template's ApiKeyCacheSeconds).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import boto3

from ferry.aws.api_keys import ApiKeysTable
from ferry.core.clock import rfc3339
from ferry.tenants.api_keys import ApiKey, new_api_key

TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def keys_table(stack: str | None, port: int) -> ApiKeysTable:
    """The stack's keys table: from CloudFormation for a deployed stack, else from the local stack on `port`."""
    if stack:
        session = boto3.Session()
        resource = session.client("cloudformation").describe_stack_resource(StackName=stack, LogicalResourceId="ApiKeysTable")
        return ApiKeysTable(session.resource("dynamodb").Table(resource["StackResourceDetail"]["PhysicalResourceId"]))
    url = f"http://127.0.0.1:{port}/_local/resources"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            local = json.load(answer)
    except urllib.error.URLError as exc:
        raise SystemExit(f"no local stack answers on {url} ({exc.reason}): start `make run`, or name a deployed stack with --stack") from None
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=local["region"])
    dynamodb = session.resource("dynamodb", endpoint_url=local["endpoint_url"])
    return ApiKeysTable(dynamodb.Table(local["resources"]["ApiKeysTable"]))


def create(table: ApiKeysTable, tenant: str, name: str) -> None:
    if not TENANT.fullmatch(tenant):
        raise SystemExit(f"--tenant {tenant!r}: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not 1 <= len(name) <= 200:
        raise SystemExit("--name: 1 to 200 characters that say whose key it is")
    api_key, key_id = new_api_key()
    table.add(api_key, ApiKey(key_id, tenant, name, rfc3339(datetime.now(UTC))))
    print(f"Created {key_id} for tenant {tenant} ({name}). The key, shown this once:\n\n  {api_key}\n")


def list_keys(table: ApiKeysTable, tenant: str | None) -> None:
    rows = [(k.key_id, k.tenant, k.name, k.created_at, f"revoked {k.revoked_at}" if k.revoked_at else "active") for k in table.list(tenant)]
    if not rows:
        print("No keys.")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4])


def revoke(table: ApiKeysTable, key_id: str) -> None:
    try:
        key = table.revoke(key_id, rfc3339(datetime.now(UTC)))
    except KeyError:
        raise SystemExit(f"no key {key_id!r} (python -m ferry_admin keys list shows them)") from None
    print(f"Revoked {key.key_id} of tenant {key.tenant} ({key.name}) at {key.revoked_at}; it stops working within the authorizer's cache time.")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ferry_admin", description=__doc__.splitlines()[0])
    top.add_argument("--stack", help="a deployed CloudFormation stack (AWS credentials from the environment); default: the running `make run`")
    top.add_argument("--port", type=int, default=3000, help="the local stack's port (default 3000)")
    area = top.add_subparsers(dest="area", required=True)
    keys = area.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)
    made = keys.add_parser("create", help="create a key for a tenant and print it once")
    made.add_argument("--tenant", required=True)
    made.add_argument("--name", required=True, help="whose key it is, e.g. 'acme ERP'")
    listed = keys.add_parser("list", help="list keys (never the keys themselves)")
    listed.add_argument("--tenant")
    revoked = keys.add_parser("revoke", help="revoke a key by its id")
    revoked.add_argument("key_id")
    return top


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    table = keys_table(args.stack, args.port)
    commands: dict[str, Any] = {
        "create": lambda: create(table, args.tenant, args.name),
        "list": lambda: list_keys(table, args.tenant),
        "revoke": lambda: revoke(table, args.key_id),
    }
    commands[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
