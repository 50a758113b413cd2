"""Secrets Manager: the Secrets port (written with boto3, read through Powertools parameters, cached),
and the deployment's MongoDB connection string (read at each connect, through Powertools parameters)."""
from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities import parameters

from ferry.aws.busy import is_busy

# A changed credential is seen within this many seconds by warm functions.
CACHE_SECONDS = 60


class SecretsManagerSecrets:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix  # every secret of this deployment is under it (and its IAM policy)
        self._provider = parameters.SecretsProvider(boto3_client=client)

    def _name(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def put(self, name: str, value: dict[str, str]) -> None:
        text = json.dumps(value)
        try:
            self._client.put_secret_value(SecretId=self._name(name), SecretString=text)
        except self._client.exceptions.ResourceNotFoundException:
            self._client.create_secret(Name=self._name(name), SecretString=text)
        # This instance reads what it just wrote, not a value cached before (an edit that keeps the password reads it back).
        self._provider.clear_cache()

    def get(self, name: str) -> dict[str, str]:
        try:
            text = self._provider.get(self._name(name), max_age=CACHE_SECONDS, force_fetch=False)
        except parameters.GetParameterError as exc:
            _raise_if_busy(exc)
            raise
        return json.loads(text)

    def delete(self, name: str) -> None:
        try:
            self._client.delete_secret(SecretId=self._name(name), ForceDeleteWithoutRecovery=True)
        except self._client.exceptions.ResourceNotFoundException:
            pass
        self._provider.clear_cache()


def _raise_if_busy(exc: parameters.GetParameterError) -> None:
    """Powertools raises GetParameterError in place of the SDK's error: a throttled read is raised as it is, seen as busy."""
    if exc.__context__ is not None and is_busy(exc.__context__):
        raise exc.__context__ from None


MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


class MongoDbSecretUnreadable(RuntimeError):
    """The MongoDbSecret cannot be read, or holds no connection string: the entity store cannot be opened."""


def mongodb_uri(secret_id: str) -> str:
    """The connection string that the secret `secret_id` (a name or an ARN) holds as its whole value."""
    try:
        # Read when the store connects, which is when a rotated password must be seen: never from the cache.
        text = parameters.get_secret(secret_id, force_fetch=True)
    except parameters.GetParameterError as exc:
        _raise_if_busy(exc)  # a reconnect's read that AWS throttles is retried with the step, not a failed job
        raise MongoDbSecretUnreadable(f"cannot read the MongoDB secret {secret_id} (FERRY_MONGODB_SECRET, the template's MongoDbSecret): {exc}") from exc
    if not isinstance(text, str) or not text.strip().startswith(MONGODB_SCHEMES):
        # The value itself is never shown: it holds a password.
        raise MongoDbSecretUnreadable(f"the secret {secret_id} (FERRY_MONGODB_SECRET) does not hold a MongoDB connection string (mongodb:// or mongodb+srv://)")
    return text.strip()
