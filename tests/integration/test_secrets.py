"""The Secrets port on Secrets Manager (moto): what a function writes, it reads back at once despite the cache."""
from __future__ import annotations

import boto3

from ferry.aws.secrets import SecretsManagerSecrets


def test_a_changed_secret_is_read_back_at_once_by_the_instance_that_wrote_it(aws_stack):
    secrets = SecretsManagerSecrets(boto3.client("secretsmanager"), "ferry/test/")
    secrets.put("acme/destination/1", {"password": "old"})
    assert secrets.get("acme/destination/1") == {"password": "old"}  # now cached
    secrets.put("acme/destination/1", {"password": "new"})
    assert secrets.get("acme/destination/1") == {"password": "new"}
    assert boto3.client("secretsmanager").get_secret_value(SecretId="ferry/test/acme/destination/1")["SecretString"] == '{"password": "new"}'
