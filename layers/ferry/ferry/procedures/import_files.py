"""ImportFiles: the files the tenant's settings name (`importFiles`) imported, each as a job of a file-import kind.

Each entry names a file, a data type and an action (and perhaps a delimiter); it becomes
an `import_dovuti` job for the Dovuti, an `import_json` job for a `.json` file, an
`import_csv` job otherwise. The file is a key in the files bucket (`"source": "s3"`, the
default) or a path on one of the tenant's SFTP destinations (`"source": "sftp"`). The
jobs read only the files bucket, so a file on an SFTP server is first copied there, to
`imports/<tenant>/<this job's id>/<position>-<name>`, streamed through a spool that goes
to /tmp past 64 MiB; the job's input is the key. The jobs run on their own state machine;
this part only submits them and reports their ids, so their rows and errors are seen on
those jobs. A key is taken only inside the tenant's own files (`<area>/<tenant>/...`, as
every key of the bucket is laid out): settings must not reach another tenant's uploads.
An entry that is refused (not in the tenant's files, an unknown data type, a missing
file, a destination that is not there, not SFTP, or that fails) is a problem; the others
are submitted all the same. Each submission carries an idempotency key made of this
job's id and the entry's position, so a retried part gets the jobs it had already
created instead of new ones.
"""
from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from ferry.core.errors import InvalidRequest, MalformedRequest, NotFound, shown
from ferry.destinations.port import Destination, DestinationFailed, Source
from ferry.jobs.files import import_copy_key, in_tenant_files
from ferry.jobs.ports import FileStore
from ferry.procedures.catalogue import Outcome, RunContext
from ferry.tenants.settings import ImportFile, S3ImportFile, SftpImportFile

DOVUTI = "Dovuti"
_ENTRY: TypeAdapter[S3ImportFile | SftpImportFile] = TypeAdapter(ImportFile)
_SPOOL_BYTES = 64 * 1024 * 1024  # a copied file stays in memory up to this, then goes to /tmp

# (tenant, destination id) -> the destination, opened; raises NotFound or DestinationFailed.
OpenDestination = Callable[[str, str], Destination]


class SubmitImport(Protocol):
    def __call__(self, tenant: str, kind: str, args: dict[str, Any], attachment_key: str, *, idempotency_key: str) -> str:
        """Create and start a job of `kind` whose input is the file at `attachment_key`; answers its id.

        The same idempotency_key answers the job it created the first time. Raises
        InvalidRequest, MalformedRequest or NotFound for what the job engine refuses.
        """


def job_of(entry: S3ImportFile | SftpImportFile, key: str) -> tuple[str, dict[str, Any]]:
    """The kind and the args of the job that imports the entry's file, now at `key` in the files bucket."""
    csv_options = {} if entry.delimiter is None else {"delimiter": entry.delimiter}
    if entry.dataType == DOVUTI:
        return "import_dovuti", {"actionType": entry.actionType, **csv_options}
    if key.lower().endswith(".json"):
        return "import_json", {"dataType": entry.dataType, "actionType": entry.actionType}
    return "import_csv", {"dataType": entry.dataType, "actionType": entry.actionType, **csv_options}


class ImportFiles:
    def __init__(
        self, settings: Callable[[str], dict[str, Any]], submit: SubmitImport, files: FileStore, open_source: OpenDestination
    ) -> None:
        self._settings = settings
        self._submit = submit
        self._files = files
        self._open_source = open_source

    def __call__(self, run: RunContext) -> Outcome:
        entries = self._settings(run.tenant).get("importFiles") or []
        submitted: list[str] = []
        problems: list[str] = []
        for position, given in enumerate(entries):
            where = f"importFiles[{position}]"
            try:
                entry = _ENTRY.validate_python(given)
            except ValidationError as exc:
                fields = ", ".join(".".join(map(str, e["loc"])) or "the entry" for e in exc.errors(include_input=False))
                problems.append(f"{where}: refused ({fields})")
                continue
            if isinstance(entry, SftpImportFile):
                label = f"{entry.path} on destination {entry.destinationId}"
                try:
                    key = self._copy(run, position, entry)
                except DestinationFailed as exc:
                    problems.append(f"{where} ({shown(label)}): {exc.step}: {exc.reason}")
                    continue
                except (InvalidRequest, NotFound) as exc:
                    problems.append(f"{where} ({shown(label)}): {exc}")
                    continue
            elif in_tenant_files(run.tenant, entry.key):
                label = key = entry.key
            else:
                problems.append(f"{where}: the key {shown(entry.key)} is not in this tenant's files (<area>/{run.tenant}/...)")
                continue
            kind, args = job_of(entry, key)
            try:
                job_id = self._submit(run.tenant, kind, args, key, idempotency_key=f"{run.job_id}-import-files-{position}")
            except (InvalidRequest, MalformedRequest, NotFound) as exc:
                problems.append(f"{where} ({shown(label)}): {exc}")
                continue
            submitted.append(f"{label} -> {kind} job {job_id}")
            run.report(f"{len(submitted)} of {len(entries)} files submitted")
        summary = f"{len(submitted)} of {len(entries)} files submitted as import jobs" + (f": {'; '.join(submitted)}." if submitted else ".")
        return Outcome(summary, {"submitted": len(submitted), "refused": len(problems)}, len(problems), problems)

    def _copy(self, run: RunContext, position: int, entry: SftpImportFile) -> str:
        """The entry's file copied into the files bucket; answers its key."""
        key = import_copy_key(run.tenant, run.job_id, position, posixpath.basename(entry.path))
        if self._files.size(key) is not None:
            # A retried part: the copy is whole (a put lands all or nothing), and the job
            # submitted the first time may be reading it already; it is not fetched again.
            return key
        source = self._open_source(run.tenant, entry.destinationId)
        if not isinstance(source, Source):
            raise InvalidRequest(f"The destination {entry.destinationId!r} is not an SFTP server; files are imported from sftp destinations only.")
        run.report(f"copying {entry.path} from destination {entry.destinationId}")
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            source.fetch(entry.path, spool)
            spool.seek(0)
            self._files.put_stream(key, spool)
        return key
