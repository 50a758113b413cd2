"""The Secrets port on Secrets Manager (moto): what a function writes, it reads back at once despite the cache."""
from __future__ import annotations

import boto3
import pytest

from ferry.aws.secrets import SecretsManagerSecrets


def test_a_changed_secret_is_read_back_at_once_by_the_instance_that_wrote_it(aws_stack):
    secrets = SecretsManagerSecrets(boto3.client("secretsmanager"), "ferry/test/")
    secrets.put("acme/destination/1", {"password": "old"})
    assert secrets.get("acme/destination/1") == {"password": "old"}  # now cached
    secrets.put("acme/destination/1", {"password": "new"})
    assert secrets.get("acme/destination/1") == {"password": "new"}
    assert boto3.client("secretsmanager").get_secret_value(SecretId="ferry/test/acme/destination/1")["SecretString"] == '{"password": "new"}'


def test_the_worker_opens_the_mongodb_whose_connection_string_the_stack_keeps_in_its_secret(aws_stack):
    from ferry.core.settings import Settings
    from ferry.store.mongo import MongoEntityStore
    from ferry.wiring import Runtime
    from ferry_local.template import Stack

    # A deployment given MongoDbUri: the stack makes the secret, the worker is told its name only.
    stack = Stack.from_template(stack_name="ferry-mongo", parameter_overrides={"MongoDbUri": "mongodb://db.example.org:27017/?connect=false"})
    stack.create_resources(boto3)
    environment = stack.function("WorkerFunction").environment
    assert "MONGODB_URI" not in environment and "FERRY_SQLITE_PATH" not in environment
    store = Runtime(Settings.from_env(environment)).entity_store
    try:
        assert isinstance(store, MongoEntityStore)
        assert store._client.topology_description.server_descriptions().keys() == {("db.example.org", 27017)}
        # A rotation: the next connect (the store's, when the server refuses the old password) reads the new value.
        boto3.client("secretsmanager").put_secret_value(SecretId=environment["FERRY_MONGODB_SECRET"], SecretString="mongodb://db2.example.org:27017/?connect=false")
        renewed = store._reconnect()
        assert renewed.topology_description.server_descriptions().keys() == {("db2.example.org", 27017)}
        renewed.close()
    finally:
        store._client.close()


def test_a_mongodb_secret_that_is_missing_or_holds_no_connection_string_is_named_not_shown(aws_stack):
    from ferry.aws.secrets import MongoDbSecretUnreadable, mongodb_uri

    with pytest.raises(MongoDbSecretUnreadable, match="cannot read the MongoDB secret prod/missing"):
        mongodb_uri("prod/missing")
    boto3.client("secretsmanager").create_secret(Name="prod/not-a-uri", SecretString='{"password": "hunter2"}')
    with pytest.raises(MongoDbSecretUnreadable, match="prod/not-a-uri .* does not hold a MongoDB connection string") as raised:
        mongodb_uri("prod/not-a-uri")
    assert "hunter2" not in str(raised.value)
