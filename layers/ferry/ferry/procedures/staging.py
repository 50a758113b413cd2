"""The staging area: the ERP's tables as the import parts read them, until LoadFromIntegrator loads them.

It plays the part of the seed's integrator database: one JSON-lines file per tenant
and table in the files bucket, `staging/<tenant>/<table>.jsonl`, each line a row in
the ERP's own column names. A table is spooled (memory, then /tmp) as it is read and
put in one piece at the end, so a reader never sees half a table, and an import that
crashes and runs again replaces the file rather than adding to it. Reading streams
line by line: memory holds one row, whatever the table's size.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator

from ferry.imports.formats.streams import prefixed
from ferry.jobs.ports import FileStore
from ferry.procedures.erp import Row

_SPOOL_BYTES = 64 * 1024 * 1024  # a table stays in memory up to this, then goes to /tmp


def staging_key(tenant: str, table: str) -> str:
    return f"staging/{tenant}/{table}.jsonl"


class Staging:
    def __init__(self, files: FileStore) -> None:
        self._files = files

    def write(self, tenant: str, table: str, batches: Iterable[list[Row]]) -> int:
        """Replace the table's staged rows with these; answers how many."""
        rows = 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            for batch in batches:
                spool.write("".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in batch).encode())
                rows += len(batch)
            spool.seek(0)
            self._files.put_stream(staging_key(tenant, table), spool, "application/x-ndjson")
        return rows

    def has(self, tenant: str, table: str) -> bool:
        return self._files.size(staging_key(tenant, table)) is not None

    def rows(self, tenant: str, table: str) -> Iterator[Row]:
        """The table's staged rows, in the order they were read; FileMissing when it was never staged."""
        with self._files.open(staging_key(tenant, table)) as raw:
            # A buffered reader gives lines whatever the stream (an S3 body iterates in fixed-size chunks).
            for line in prefixed(b"", raw):
                yield json.loads(line)
