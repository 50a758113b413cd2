"""A tenant's settings, one document: seed 000's NotificationCenter (mail recipients by outcome) and the files ImportFiles takes."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, Tag, ValidationError, ValidationInfo, field_validator

from ferry.core.clock import time_zone
from ferry.core.errors import FieldError, InvalidRequest, pointer_of
from ferry.core.lazy_model import LazyModel
from ferry.datatypes.registry import named, resolve
from ferry.destinations.catalogue import KIND as DESTINATION
from ferry.destinations.port import check_path
from ferry.jobs.files import in_tenant_files
from ferry.jobs.ports import SavedItems

KIND, ID = "settings", "tenant"
# An address a mail server takes (RFC 5321's dot-atom): one @, dots only between characters of the
# local part, which holds RFC 5322's ASCII atext only (no spaces, controls, specials, quoting or other
# scripts: SES sends to 7-bit addresses, an international domain in its xn-- form); a dotted domain whose
# labels neither start nor end with a hyphen. One mail goes to all the recipients of an outcome, so an
# address SES refuses would lose it for every one of them.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})+$")


# Settings saved before a check was made stricter are read as they were saved (a read must never fail on
# them); the stricter check applies when they are given again.
_STORED = {"stored": True}


def _saved_earlier(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _address(value: str, info: ValidationInfo) -> str:
    if _saved_earlier(info):
        return value
    if len(value) > 254 or not _ADDRESS.fullmatch(value):  # fullmatch: `$` alone lets a trailing newline through
        raise ValueError("must be an e-mail address like name@example.org, in ASCII (an international domain as xn--...)")
    return value


Address = Annotated[str, AfterValidator(_address)]


def _key_bytes(value: str, info: ValidationInfo) -> str:
    # S3's limit for a key, in bytes: 1024 characters of another script would be up to 4 KB.
    if not _saved_earlier(info) and len(value.encode()) > 1024:
        raise ValueError("at most 1024 bytes in UTF-8")
    return value


def _tenants_key(value: str, info: ValidationInfo) -> str:
    # ImportFiles refuses any other key when it runs; saved, it would fail every night until then.
    tenant = (info.context or {}).get("tenant")
    if tenant is not None and not in_tenant_files(tenant, value):
        raise ValueError(f"must be one of this tenant's files: <area>/{tenant}/..., no empty, '.' or '..' part")
    return value


def _known_data_type(value: str, info: ValidationInfo) -> str:
    # UnsupportedImport is a ValueError: the 422 names the known types.
    return value if _saved_earlier(info) else named(value).name


class Recipients(LazyModel):
    """Seed 000's NotificationCenter: who is mailed by outcome."""

    model_config = ConfigDict(extra="forbid")

    ErrorRecipients: list[Address] = Field(default_factory=list, max_length=50, description="Mailed when a procedure fails")
    InfoRecipients: list[Address] = Field(default_factory=list, max_length=50, description="Mailed when a procedure succeeds")


class _ImportFile(LazyModel):
    model_config = ConfigDict(extra="forbid")

    dataType: Annotated[str, AfterValidator(_known_data_type)] = Field(max_length=100)
    actionType: str = Field(default="CreateOrUpdate", max_length=100)
    delimiter: str | None = Field(default=None, max_length=1)

    @field_validator("actionType")
    @classmethod
    def _an_action_of_the_type(cls, value: str, info: ValidationInfo) -> str:
        if not _saved_earlier(info) and "dataType" in info.data:
            return resolve(info.data["dataType"], value)[1].value  # UnsupportedImport names the type's actions
        return value


class S3ImportFile(_ImportFile):
    source: Literal["s3"] = Field(default="s3", description="Where the file is: a key in the files bucket")
    key: Annotated[str, AfterValidator(_key_bytes), AfterValidator(_tenants_key)] = Field(min_length=1, max_length=1024)


class SftpImportFile(_ImportFile):
    source: Literal["sftp"] = Field(description="Where the file is: a path on one of the tenant's SFTP destinations")
    destinationId: str = Field(pattern="^[0-9A-Za-z]{1,64}$", description="The id of a destination of type sftp")
    path: Annotated[str, AfterValidator(check_path), AfterValidator(_key_bytes)] = Field(
        max_length=1024, description="The file's path on the server; a relative one is in the destination's folder"
    )


def _source(given: Any) -> Any:
    # The s3 form came first and names no source: an entry without one is an s3 entry still.
    return given.get("source", "s3") if isinstance(given, dict) else getattr(given, "source", None)


ImportFile = Annotated[
    Annotated[S3ImportFile, Tag("s3")] | Annotated[SftpImportFile, Tag("sftp")],
    Discriminator(
        _source,
        custom_error_type="import_source",
        custom_error_message="source must be s3 (with a key) or sftp (with a destinationId and a path)",
    ),
]


class TenantSettings(LazyModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"NotificationCenter": {"ErrorRecipients": ["ops@example.org"], "InfoRecipients": ["erp@example.org"]}}]})

    NotificationCenter: Recipients = Field(default_factory=Recipients)
    technicalContact: Address | None = Field(default=None, description="Mailed when an automatic export fails (seed 003)")
    timeZone: Annotated[str, AfterValidator(time_zone)] | None = Field(
        default=None, description="Where nightly exports run at about 03:00; none: the deployment's DefaultTimeZone (Europe/Rome)"
    )
    plan: Literal["enterprise", "enterprise_plus", "enterprise_pro"] = Field(default="enterprise", description="How many export profiles: 1, 3 or 5")
    importFiles: list[ImportFile] = Field(default_factory=list, max_length=100, description="What ImportFiles imports")


class Settings:
    def __init__(self, saved: SavedItems) -> None:
        self._saved = saved

    def get(self, tenant: str) -> TenantSettings:
        return TenantSettings.model_validate(self._saved.get(tenant, KIND, ID) or {}, context=_STORED)

    def put(self, tenant: str, given: dict[str, Any]) -> TenantSettings:
        try:
            settings = TenantSettings.model_validate(given, context={"tenant": tenant})
        except ValidationError as exc:
            errors = [FieldError(_pointer(e["loc"]), e["msg"]) for e in exc.errors(include_input=False)]
            raise InvalidRequest(f"The settings are refused: {', '.join(e.pointer for e in errors)}.", errors) from None
        # An SFTP entry names one of this tenant's SFTP destinations, as an export's destinationId must name one of
        # its destinations: else ImportFiles would only say so when it runs.
        unknown = [
            FieldError(f"/importFiles/{i}/destinationId", "one of this tenant's destinations of type sftp")
            for i, entry in enumerate(settings.importFiles)
            if isinstance(entry, SftpImportFile) and not self._an_sftp_destination(tenant, entry.destinationId)
        ]
        if unknown:
            raise InvalidRequest(f"The settings are refused: {', '.join(e.pointer for e in unknown)} names no SFTP destination of this tenant.", unknown)
        self._saved.put(tenant, KIND, ID, settings.model_dump(mode="json"), new=self._saved.get(tenant, KIND, ID) is None)
        return settings

    def _an_sftp_destination(self, tenant: str, destination_id: str) -> bool:
        found = self._saved.get(tenant, DESTINATION, destination_id)
        return found is not None and (found.get("config") or {}).get("type") == "sftp"


def _pointer(loc: tuple[int | str, ...]) -> str:
    # Pydantic names the chosen form of an importFiles entry in the location (importFiles/0/sftp/path);
    # the sender wrote no such member, so the pointer leaves it out.
    return pointer_of(p for i, p in enumerate(loc) if not (i >= 2 and loc[0] == "importFiles" and isinstance(loc[i - 1], int) and p in ("s3", "sftp")))
