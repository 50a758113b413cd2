"""Wiring: builds the adapters a handler needs from settings, once per process.

Handlers call this at cold start; the domain below only ever sees the ports.
The entity store is built on first use, so the API function never imports pymongo.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3

from ferry.auth import ApiKeys
from ferry.core.clock import Clock, SystemClock
from ferry.files import S3FileStore
from ferry.idempotency import IdempotencyRecords
from ferry.jobs.repository import JobRepository
from ferry.jobs.service import JobService
from ferry.launcher import StepFunctionsLauncher
from ferry.core.settings import Settings
from ferry.store.port import EntityStore


@dataclass
class Runtime:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def _dynamodb(self) -> Any:
        return boto3.resource("dynamodb")

    @cached_property
    def jobs(self) -> JobRepository:
        return JobRepository(self._dynamodb.Table(self.settings.jobs_table), self.clock, self.settings.job_retention_days)

    @cached_property
    def idempotency(self) -> IdempotencyRecords:
        return IdempotencyRecords(self._dynamodb.Table(self.settings.jobs_table), self.clock)

    @cached_property
    def api_keys(self) -> ApiKeys:
        return ApiKeys(self._dynamodb.Table(self.settings.api_keys_table))

    @cached_property
    def files(self) -> S3FileStore:
        return S3FileStore(boto3.client("s3"), self.settings.files_bucket)

    @cached_property
    def launcher(self) -> StepFunctionsLauncher:
        if not self.settings.job_state_machine_arn:
            raise RuntimeError("FERRY_JOB_STATE_MACHINE_ARN is not set for this function")
        return StepFunctionsLauncher(boto3.client("stepfunctions"), self.settings.job_state_machine_arn)

    @cached_property
    def job_service(self) -> JobService:
        return JobService(self.jobs, self.files, self.launcher, self.idempotency, self.clock)

    @cached_property
    def entity_store(self) -> EntityStore:
        if self.settings.mongodb_uri:
            import pymongo

            from ferry.store.mongo import MongoEntityStore

            client = pymongo.MongoClient(self.settings.mongodb_uri, appname="ferry", retryWrites=True)
            return MongoEntityStore(client, self.settings.mongodb_database)
        from ferry.store.sqlite import SqliteEntityStore

        return SqliteEntityStore(self.settings.sqlite_path)
