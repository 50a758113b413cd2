"""Settings read once from the environment: a deployment that would lose data refuses to start, naming what is missing."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from ferry.core.settings import Settings

BASE = {"FERRY_JOBS_TABLE": "jobs", "FERRY_API_KEYS_TABLE": "keys", "FERRY_FILES_BUCKET": "files"}


def test_no_mongodb_and_no_explicit_local_store_refuses_to_start_naming_the_parameters():
    with pytest.raises(ValidationError, match="FERRY_MONGODB_SECRET is empty: deploy with the template's MongoDbSecret parameter .* or its MongoDbUri parameter"):
        Settings.from_env({**BASE, "FERRY_MONGODB_SECRET": "", "MONGODB_URI": ""})


def test_the_local_stack_names_its_sqlite_file_a_deployment_its_secret_and_a_developer_a_mongodb():
    assert Settings.from_env({**BASE, "FERRY_SQLITE_PATH": "/tmp/x.sqlite3"}).sqlite_path == "/tmp/x.sqlite3"
    assert Settings.from_env({**BASE, "FERRY_MONGODB_SECRET": "ferry/mongodb-uri"}).mongodb_secret == "ferry/mongodb-uri"
    assert Settings.from_env({**BASE, "MONGODB_URI": "mongodb://db.example.org"}).mongodb_database == "ferry"


def test_a_default_time_zone_that_is_none_refuses_to_start():
    with pytest.raises(ValidationError, match="FERRY_DEFAULT_TIME_ZONE"):
        Settings.from_env({**BASE, "FERRY_SQLITE_PATH": "/tmp/x", "FERRY_DEFAULT_TIME_ZONE": "Mars/Olympus"})
