"""ImportFiles: the files the tenant's settings name (`importFiles`) imported, each as a job of a file-import kind.

Each entry names a key in the files bucket, a data type and an action (and perhaps a
delimiter); it becomes an `import_dovuti` job for the Dovuti, an `import_json` job for a
`.json` key, an `import_csv` job otherwise, whose input is the file where it is. The jobs
run on their own state machine; this part only submits them and reports their ids, so
their rows and errors are seen on those jobs. A key is taken only inside the tenant's own
files (`<area>/<tenant>/...`, as every key of the bucket is laid out): settings must not
reach another tenant's uploads. An entry that is refused (not in the tenant's files, an
unknown data type, a missing file) is a problem; the others are submitted all the same.
Each submission carries an idempotency key made of this job's id and the entry's
position, so a retried part gets the jobs it had already created instead of new ones.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import ValidationError

from ferry.core.errors import InvalidRequest, MalformedRequest, NotFound, shown
from ferry.procedures.catalogue import Outcome, RunContext
from ferry.tenants.settings import ImportFile

DOVUTI = "Dovuti"


class SubmitImport(Protocol):
    def __call__(self, tenant: str, kind: str, args: dict[str, Any], attachment_key: str, *, idempotency_key: str) -> str:
        """Create and start a job of `kind` whose input is the file at `attachment_key`; answers its id.

        The same idempotency_key answers the job it created the first time. Raises
        InvalidRequest, MalformedRequest or NotFound for what the job engine refuses.
        """


def job_of(entry: ImportFile) -> tuple[str, dict[str, Any]]:
    """The kind and the args of the job that imports the entry's file."""
    csv_options = {} if entry.delimiter is None else {"delimiter": entry.delimiter}
    if entry.dataType == DOVUTI:
        return "import_dovuti", {"actionType": entry.actionType, **csv_options}
    if entry.key.lower().endswith(".json"):
        return "import_json", {"dataType": entry.dataType, "actionType": entry.actionType}
    return "import_csv", {"dataType": entry.dataType, "actionType": entry.actionType, **csv_options}


def in_tenant_files(tenant: str, key: str) -> bool:
    segments = key.split("/")
    return len(segments) >= 3 and segments[1] == tenant and not {"", ".", ".."} & set(segments)


class ImportFiles:
    def __init__(self, settings: Callable[[str], dict[str, Any]], submit: SubmitImport) -> None:
        self._settings = settings
        self._submit = submit

    def __call__(self, run: RunContext) -> Outcome:
        entries = self._settings(run.tenant).get("importFiles") or []
        submitted: list[str] = []
        problems: list[str] = []
        for position, given in enumerate(entries):
            where = f"importFiles[{position}]"
            try:
                entry = ImportFile.model_validate(given)
            except ValidationError as exc:
                fields = ", ".join(".".join(map(str, e["loc"])) or "the entry" for e in exc.errors(include_input=False))
                problems.append(f"{where}: refused ({fields})")
                continue
            if not in_tenant_files(run.tenant, entry.key):
                problems.append(f"{where}: the key {shown(entry.key)} is not in this tenant's files (<area>/{run.tenant}/...)")
                continue
            kind, args = job_of(entry)
            try:
                job_id = self._submit(run.tenant, kind, args, entry.key, idempotency_key=f"{run.job_id}-import-files-{position}")
            except (InvalidRequest, MalformedRequest, NotFound) as exc:
                problems.append(f"{where} ({shown(entry.key)}): {exc}")
                continue
            submitted.append(f"{entry.key} -> {kind} job {job_id}")
            run.report(f"{len(submitted)} of {len(entries)} files submitted")
        summary = f"{len(submitted)} of {len(entries)} files submitted as import jobs" + (f": {'; '.join(submitted)}." if submitted else ".")
        return Outcome(summary, {"submitted": len(submitted), "refused": len(problems)}, problems)
