"""Typed settings, read once at cold start from the function's environment (see template.yaml).

A missing or malformed variable fails the cold start loudly, naming the variable,
instead of failing some request later.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ferry.core.clock import time_zone

# Environment variable -> setting. The template sets these on every function.
_ENV = {
    "FERRY_JOBS_TABLE": "jobs_table",
    "FERRY_API_KEYS_TABLE": "api_keys_table",
    "FERRY_FILES_BUCKET": "files_bucket",
    "FERRY_JOB_RETENTION_DAYS": "job_retention_days",
    "FERRY_CHUNK_ROWS": "chunk_rows",
    "FERRY_STATE_MACHINES": "state_machines",
    "FERRY_ALLOWED_PRIVATE_HOSTS": "allowed_private_hosts",
    "FERRY_SECRETS_PREFIX": "secrets_prefix",
    "FERRY_MAIL_FROM": "mail_from",
    "FERRY_GEOCODER": "geocoder",
    "FERRY_DEFAULT_TIME_ZONE": "default_time_zone",
    "FERRY_SQLITE_PATH": "sqlite_path",
    "FERRY_API_KEY_CACHE_SECONDS": "api_key_cache_seconds",
    "FERRY_MONGODB_SECRET": "mongodb_secret",
    "MONGODB_URI": "mongodb_uri",
    "MONGODB_DATABASE": "mongodb_database",
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs_table: str = Field(min_length=1)
    api_keys_table: str = Field(min_length=1)
    files_bucket: str = Field(min_length=3)
    job_retention_days: int = Field(default=90, ge=1)
    chunk_rows: int = Field(default=10_000, ge=1, le=50_000)
    # State machine family -> ARN, from "import=arn:...,export=arn:..." (the functions that start or watch executions).
    state_machines: dict[str, str] = Field(default_factory=dict)
    # Hosts a URL attachment or an export destination may name although they resolve to private addresses
    # (an intranet server); empty: public addresses only.
    allowed_private_hosts: frozenset[str] = frozenset()
    url_max_bytes: int = 2 * 1024**3
    # Every secret of this deployment is named under it (its IAM policy grants just that).
    secrets_prefix: str = "ferry/"
    # The verified SES identity notifications are sent from (the notifier's).
    mail_from: str = ""
    # GeocodeAddresses' geocoder: Amazon Location, or the offline gazetteer (the local stack).
    geocoder: Literal["amazon-location", "gazetteer"] = "amazon-location"
    url_timeout_s: float = 300.0
    # Where a tenant's nightly exports run when its settings name no time zone.
    default_time_zone: str = "Europe/Rome"
    # In AWS: the secret (name or ARN) holding the MongoDB connection string; the wiring reads it on first use.
    mongodb_secret: str = ""
    # A developer's own MongoDB (their shell's MONGODB_URI, which the local stack passes on); the template never sets it.
    mongodb_uri: str = ""
    mongodb_database: str = "ferry"
    # How long the authorizer trusts a key it checked (a revoked key works at most this long).
    api_key_cache_seconds: int = Field(default=300, ge=0, le=3600)
    # The embedded store's file: the local stack's explicit choice (FERRY_SQLITE_PATH), never a fallback.
    sqlite_path: str | None = None

    @model_validator(mode="after")
    def _business_data_has_a_home(self) -> Settings:
        if (self.mongodb_uri or self.mongodb_secret) and not self.mongodb_database:
            raise ValueError("MONGODB_DATABASE must be set with a MongoDB (the template's MongoDbName parameter)")
        if not self.mongodb_uri and not self.mongodb_secret and not self.sqlite_path:
            # A SQLite file in a Lambda's /tmp would lose every record with the instance.
            raise ValueError(
                "FERRY_MONGODB_SECRET is empty: deploy with the template's MongoDbSecret parameter (an existing secret's name or ARN) "
                "or its MongoDbUri parameter (the stack keeps it in a new secret); FERRY_SQLITE_PATH is the local stack's store only"
            )
        return self

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            return time_zone(value)
        except ValueError as exc:
            raise ValueError(f"FERRY_DEFAULT_TIME_ZONE {exc}") from None

    @field_validator("state_machines", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [p.partition("=") for p in value.split(",") if p.strip()]
            if any(not sep or not name.strip() or not arn.strip() for name, sep, arn in pairs):
                raise ValueError("FERRY_STATE_MACHINES must be family=arn pairs separated by commas")
            return {name.strip(): arn.strip() for name, _, arn in pairs}
        return value

    @field_validator("allowed_private_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(**{setting: env[var] for var, setting in _ENV.items() if env.get(var) not in (None, "")})
