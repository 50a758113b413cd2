"""Wiring: builds the adapters a handler needs from settings, once per process.

Handlers call this at cold start; the domain below only ever sees the ports.
The entity store is built on first use, so the API function never imports pymongo.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from ferry.aws.api_keys import ApiKeysTable
from ferry.aws.events import EventBridgeEvents
from ferry.aws.idempotency import IdempotencyTable
from ferry.aws.jobs_table import JobsTable
from ferry.aws.leases import LeasesTable
from ferry.aws.s3_files import S3Files
from ferry.aws.saved_items import SavedItemsTable
from ferry.aws.sfn_launcher import StepFunctionsLauncher
from ferry.core.clock import Clock, SystemClock
from ferry.core.settings import Settings
from ferry.destinations.catalogue import Destinations
from ferry.exports.segments import Segments
from ferry.jobs.lifecycle import Lifecycle
from ferry.schedules.service import ScheduledExports
from ferry.tenants.settings import Settings as TenantSettingsStore
from ferry.jobs.ports import Secrets
from ferry.jobs.service import JobService
from ferry.store.port import EntityStore

if TYPE_CHECKING:
    from ferry.exports.runner import ExportRunner
    from ferry.procedures.runner import ProcedureRunner
    from ferry.imports.runner import ImportRunner


# A job's end is published from within callers that have their own time limit (the API's 29 s, the sweeper's
# run): botocore's defaults (60 s to connect, retried) could outlast them, where this gives up within ~20 s
# and the caller answers, or leaves the end to the sweeper, in time.
_PUBLISHING = Config(connect_timeout=2, read_timeout=8, retries={"mode": "standard", "total_max_attempts": 2})


@dataclass
class Runtime:
    """The adapters of one function, built on first use from its settings."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def _dynamodb(self) -> Any:
        return boto3.resource("dynamodb")

    @cached_property
    def jobs(self) -> JobsTable:
        return JobsTable(self._dynamodb.Table(self.settings.jobs_table), self.clock, self.settings.job_retention_days)

    @cached_property
    def idempotency(self) -> IdempotencyTable:
        return IdempotencyTable(self._dynamodb.Table(self.settings.jobs_table), self.clock)

    @cached_property
    def api_keys(self) -> ApiKeysTable:
        return ApiKeysTable(self._dynamodb.Table(self.settings.api_keys_table))

    @cached_property
    def files(self) -> S3Files:
        return S3Files(boto3.client("s3"), self.settings.files_bucket)

    @cached_property
    def launcher(self) -> StepFunctionsLauncher:
        if not self.settings.state_machines:
            raise RuntimeError("FERRY_STATE_MACHINES is not set for this function")
        return StepFunctionsLauncher(boto3.client("stepfunctions"), self.settings.state_machines)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(self.jobs, self.files, self.events, self.leases, self.clock)

    @cached_property
    def events(self) -> EventBridgeEvents:
        return EventBridgeEvents(lambda: boto3.client("events", config=_PUBLISHING))

    @cached_property
    def leases(self) -> LeasesTable:
        return LeasesTable(self._dynamodb.Table(self.settings.jobs_table), self.clock)

    @cached_property
    def import_runner(self) -> ImportRunner:
        # Only the worker runs imports: the readers stay out of the API function.
        from ferry.imports.runner import ImportRunner

        return ImportRunner(self.jobs, self.files, self.entity_store, self.lifecycle, self.clock, self.settings.chunk_rows, self._fetch_policy)

    @cached_property
    def job_service(self) -> JobService:
        return JobService(self.jobs, self.files, self.launcher, self.events, self.idempotency, self.saved_items, self.leases, self.clock)

    @cached_property
    def tenant_settings(self) -> TenantSettingsStore:
        return TenantSettingsStore(self.saved_items)

    @cached_property
    def scheduled_exports(self) -> ScheduledExports:
        from ferry.aws.ses_mail import SesMailer

        return ScheduledExports(
            self.saved_items,
            self.destinations,
            self.tenant_settings,
            self.job_service,
            self.leases,
            lambda: SesMailer(boto3.client("sesv2"), self.settings.mail_from),
            self.clock,
            self.settings.default_time_zone,
        )

    @cached_property
    def segments(self) -> Segments:
        return Segments(self.saved_items, self.clock)

    @cached_property
    def destinations(self) -> Destinations:
        # The SFTP and FTP adapters (paramiko) load only when such a destination is opened.
        from ferry.aws.s3_destination import S3Destination, s3_client_as_role
        from ferry.destinations import DestinationFailed, open_destination
        from ferry.destinations.port import role_external_id
        from ferry.imports.sources.url import FetchRefused, vetted_addresses

        s3 = boto3.client("s3")

        def opener(tenant: str, config: Any, secrets: Any, timeouts: Any) -> Any:
            def s3_destination(s3_config: Any) -> Any:
                if s3_config.bucket is None:
                    # Ferry's own bucket: each tenant's exports under its own prefix, never among job files.
                    return S3Destination(s3, self.settings.files_bucket, f"exports/{tenant}/{s3_config.prefix}".rstrip("/"))
                if s3_config.bucket == self.settings.files_bucket:
                    # Named outright, the bucket would reach other tenants' files and exports.
                    raise DestinationFailed("permission", "Ferry's own files bucket is named by leaving bucket out; then each tenant writes under its own prefix.")
                if s3_config.role_arn is not None:
                    client = s3_client_as_role(boto3.client("sts"), s3_config.role_arn, role_external_id(tenant), f"ferry-{tenant}")
                    return S3Destination(client, s3_config.bucket, s3_config.prefix)
                return S3Destination(s3, s3_config.bucket, s3_config.prefix)

            return open_destination(config, secrets, s3_destination, resolve, timeouts)

        def resolve(host: str, port: int) -> list[tuple[str, int]]:
            try:
                vetted = vetted_addresses(host, port, self.settings.allowed_private_hosts, what="the destination's host")
            except FetchRefused as exc:
                raise DestinationFailed("dns" if "resolved" in str(exc) else "connect", str(exc)) from None
            return [(sockaddr[0], sockaddr[1]) for _family, sockaddr in vetted]

        return Destinations(self.saved_items, self.secrets, opener, self.clock)

    @cached_property
    def export_runner(self) -> ExportRunner:
        from ferry.exports.runner import ExportRunner

        return ExportRunner(self.jobs, self.files, self.entity_store, self.segments, self.destinations.open, self.lifecycle, self.clock)

    @cached_property
    def procedure_runner(self) -> ProcedureRunner:
        from ferry.procedures.runner import ProcedureRunner

        return ProcedureRunner(self.jobs, self.leases, self.lifecycle, self.procedure_parts)

    @cached_property
    def procedure_parts(self) -> dict[str, Any]:
        """Each procedure part with its adapters; SQLAlchemy loads only here, in the worker."""
        from ferry.procedures.erp_parts import ExportToErp, FullImportFromErp, ImportFromErp, LoadFromIntegrator
        from ferry.procedures.geocoding import GeocodeAddresses
        from ferry.procedures.images import DownloadItemsImages
        from ferry.procedures.import_files import ImportFiles
        from ferry.procedures.staging import Staging
        from ferry.procedures.sync_packages import SettingsSyncDataCreation, SyncDataCreation

        staging = Staging(self.files)
        store = self.entity_store
        return {
            "FullImportFromErp": FullImportFromErp(self.erp_sources, staging),
            "ImportFromErp": ImportFromErp(self.erp_sources, staging),
            "LoadFromIntegrator": LoadFromIntegrator(staging, store, self.clock),
            "ExportToErp": ExportToErp(self.erp_sources, store, self.clock),
            "ImportFiles": ImportFiles(self._settings_document, self._submit_import, self.files, self.destinations.open),
            "DownloadItemsImages": DownloadItemsImages(store, self.files, self._fetch_policy),
            "GeocodeAddresses": GeocodeAddresses(store, self._geocoder(), self.clock),
            "SyncDataCreation": SyncDataCreation(store, self.files, self.clock, self._package_settings),
            "SettingsSyncDataCreation": SettingsSyncDataCreation(store, self.files, self.clock, self._package_settings),
        }

    @property
    def _fetch_policy(self) -> Any:
        from ferry.imports.sources.url import FetchPolicy

        return FetchPolicy(
            max_bytes=self.settings.url_max_bytes, timeout_s=self.settings.url_timeout_s, allowed_hosts=self.settings.allowed_private_hosts
        )

    def _geocoder(self) -> Any:
        """Amazon Location in AWS; the offline gazetteer where the deployment says so (the local stack)."""
        if self.settings.geocoder == "gazetteer":
            from ferry.procedures.gazetteer import Gazetteer

            return Gazetteer()
        from ferry.aws.location_geocoder import LocationGeocoder

        return LocationGeocoder(boto3.client("geo-places"))

    def _settings_document(self, tenant: str) -> dict[str, Any]:
        return self.tenant_settings.get(tenant).model_dump(mode="json")

    def _package_settings(self, tenant: str) -> dict[str, Any]:
        # An agent's package carries the tenant's settings, never who gets the operators' mails.
        return {k: v for k, v in self._settings_document(tenant).items() if k != "NotificationCenter"}

    def _submit_import(self, tenant: str, kind: str, args: dict[str, Any], key: str, *, idempotency_key: str) -> str:
        from ferry.jobs.kinds import kind_of
        from ferry.jobs.service import NewAttachment, Submission

        found = kind_of(kind)
        name = key.rsplit("/", 1)[-1]
        attachment = NewAttachment(name, "application/json" if name.endswith(".json") else "text/csv", key=key)
        job, _ = self.job_service.submit(Submission(tenant, found, found.args(args), attachment, idempotency_key))
        return job.id

    def erp_sources(self, tenant: str) -> Any:
        """The tenant's ERP: its SQLAlchemy URL is the secret `<tenant>/erp` ({"url": ...})."""
        from ferry.procedures.sqlalchemy_erp import SqlAlchemyErp

        try:
            url = self.secrets.get(f"{tenant}/erp")["url"]
        except Exception as exc:
            raise RuntimeError(f"no ERP connection is configured for tenant {tenant} (the secret {self.settings.secrets_prefix}{tenant}/erp)") from exc
        return SqlAlchemyErp(url)

    @cached_property
    def saved_items(self) -> SavedItemsTable:
        return SavedItemsTable(self._dynamodb.Table(self.settings.jobs_table))

    @cached_property
    def secrets(self) -> Secrets:
        # Powertools' parameters load only where credentials are used, not at every cold start.
        from ferry.aws.secrets import SecretsManagerSecrets

        return SecretsManagerSecrets(boto3.client("secretsmanager"), self.settings.secrets_prefix)

    @cached_property
    def entity_store(self) -> EntityStore:
        """MongoDB: a developer's MONGODB_URI, else the deployment's secret; else the local SQLite file."""
        settings = self.settings
        if settings.mongodb_uri or settings.mongodb_secret:
            import pymongo

            from ferry.aws.secrets import mongodb_uri
            from ferry.store.mongo import MongoEntityStore

            def connect() -> Any:
                # The secret is read at each connect: once per process, and again when the server refuses its password.
                uri = settings.mongodb_uri or mongodb_uri(settings.mongodb_secret)
                return pymongo.MongoClient(uri, appname="ferry", retryWrites=True)

            return MongoEntityStore(connect(), settings.mongodb_database, reconnect=connect)
        from ferry.store.sqlite import SqliteEntityStore

        return SqliteEntityStore(self.settings.sqlite_path)
