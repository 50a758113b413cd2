"""The procedure kind: one of seed 000's procedures, run under the tenant's single lane."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema

from ferry.core.errors import FieldError, InvalidRequest, shown
from ferry.core.lazy_model import LazyModel
from ferry.jobs.kinds import AttachmentRule, JobKind, register
from ferry.procedures.catalogue import ERP_TABLES, PROCEDURES

PROCEDURE = "procedure"
# One lane per tenant for every procedure, as seed 000 says: a new command is refused while one runs.
LANE = "procedures"


class ProcedureArgs(LazyModel):
    model_config = ConfigDict(extra="forbid")

    procedure: Annotated[str, Field(max_length=100), WithJsonSchema({"type": "string", "enum": list(PROCEDURES)})]
    tables: list[Annotated[str, WithJsonSchema({"type": "string", "enum": list(ERP_TABLES)})]] = Field(
        default_factory=list, max_length=len(ERP_TABLES), description="ImportFromErp only: the ERP tables to read"
    )


def check_procedure(args: ProcedureArgs, pointer: str = "/args/procedure", tables_pointer: str = "/args/tables") -> dict[str, Any]:
    found = next((p for name, p in PROCEDURES.items() if name.casefold() == args.procedure.casefold()), None)
    if found is None:
        known = ", ".join(PROCEDURES)
        raise InvalidRequest(f"Unknown procedure {shown(args.procedure)}; known: {known}.", [FieldError(pointer, f"one of {known}")])
    tables = []
    for i, table in enumerate(args.tables):
        match = next((t for t in ERP_TABLES if t.casefold() == table.casefold()), None)
        if match is None:
            known = ", ".join(ERP_TABLES)
            raise InvalidRequest(f"Unknown table {shown(table)}; known: {known}.", [FieldError(f"{tables_pointer}/{i}", f"one of {known}")])
        tables.append(match)
    if tables and not found.takes_tables:
        raise InvalidRequest(f"{found.name} takes no tables.", [FieldError(tables_pointer, "not taken by this procedure")])
    if found.takes_tables and not tables:
        known = ", ".join(ERP_TABLES)
        raise InvalidRequest(f"{found.name} needs the tables to read, e.g. ?tables=Item,ItemOfflineAvailability; known: {known}.", [FieldError(tables_pointer, "required")])
    return {"procedure": found.name, **({"tables": tables} if tables else {})}


PROCEDURE_KIND = register(
    JobKind(
        name=PROCEDURE,
        description="Run one of the ERP integration procedures (seed 000); one at a time per tenant.",
        args_model=ProcedureArgs,
        state_machine="procedure",
        attachment=AttachmentRule.NONE,
        check_args=check_procedure,
        example={"type": PROCEDURE, "args": {"procedure": "ImportFromErp", "tables": ["Item", "ItemOfflineAvailability"]}},
        lane=LANE,
        # Longer than the worker's timeout (900 s): a part that runs to its limit still holds the lane when retried.
        lease_seconds=20 * 60,
    )
)
