"""Typed settings, read once at cold start from the function's environment (see template.yaml).

A missing or malformed variable fails the cold start loudly, naming the variable,
instead of failing some request later.
"""
from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Environment variable -> setting. The template sets these on every function.
_ENV = {
    "FERRY_JOBS_TABLE": "jobs_table",
    "FERRY_API_KEYS_TABLE": "api_keys_table",
    "FERRY_FILES_BUCKET": "files_bucket",
    "FERRY_JOB_RETENTION_DAYS": "job_retention_days",
    "FERRY_CHUNK_ROWS": "chunk_rows",
    "FERRY_JOB_STATE_MACHINE_ARN": "job_state_machine_arn",
    "FERRY_SQLITE_PATH": "sqlite_path",
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
    job_state_machine_arn: str | None = None
    mongodb_uri: str = ""
    mongodb_database: str = "ferry"
    # The embedded store's file; only used when mongodb_uri is empty (local stack, tests).
    sqlite_path: str = "/tmp/ferry-entities.sqlite3"

    @model_validator(mode="after")
    def _mongodb_database_named(self) -> Settings:
        if self.mongodb_uri and not self.mongodb_database:
            raise ValueError("MONGODB_DATABASE must be set when MONGODB_URI is")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(**{setting: env[var] for var, setting in _ENV.items() if env.get(var) not in (None, "")})
