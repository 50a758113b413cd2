"""A tenant's destinations: created, read, listed, updated, deleted, checked, opened for an export.

The config is a saved item; the secrets live in the Secrets port under
`<tenant>/destinations/<id>` and are never shown: a read says `"password": "********"`
and `"has_private_key": true` instead.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from ferry.core.clock import Clock, rfc3339
from ferry.core.errors import FieldError, InvalidRequest, NotFound, pointer_of, shown
from ferry.core.ids import new_ulid
from ferry.destinations.port import (
    TRANSFER_TIMEOUTS,
    Destination,
    DestinationConfig,
    DestinationFailed,
    DestinationSecrets,
    Timeouts,
    check_timeouts,
    role_external_id,
)
from ferry.jobs.ports import SavedItems, Secrets

KIND = "destination"
# Each destination holds a secret (Secrets Manager bills each one): a tenant keeps at most this many.
MAX_PER_TENANT = 100
MASK = "********"
_CONFIG: TypeAdapter[Any] = TypeAdapter(DestinationConfig, config=ConfigDict(defer_build=True))  # as LazyModel
_SECRET_FIELDS = ("password", "private_key")
_OWN_FIELDS = ("name",)
# Shown by a read, never taken from a request: a client sending back what it read must not be refused for it.
_SHOWN_ONLY = ("id", "created_at", "updated_at", "has_private_key", "external_id", "profile")


def without_secrets(given: dict[str, Any]) -> dict[str, Any]:
    """What a request for a destination asks, its secrets left out: the part an Idempotency-Key's record may keep a digest of."""
    return {k: v for k, v in given.items() if k not in _SECRET_FIELDS}


# The adapter for a destination; the wiring's connect only to addresses it vetted (a customer's server must be public).
Opener = Callable[[str, Any, DestinationSecrets, Timeouts], Destination]


# A change to any of these sends the secrets to another server (or account): they must be sent again.
_WHERE_SECRETS_GO = ("type", "host", "port", "username")


class Destinations:
    def __init__(self, saved: SavedItems, secrets: Secrets, opener: Opener, clock: Clock) -> None:
        self._saved = saved
        self._secrets = secrets
        self._opener = opener  # (tenant, config, secrets, timeouts) -> Destination
        self._clock = clock

    def create(self, tenant: str, given: dict[str, Any], destination_id: str | None = None, *, profile: bool = False) -> dict[str, Any]:
        """A new destination; `profile`: one of seed 003's export profiles (created as one, counted by the plan)."""
        config, secrets, name = self._parse(given, keep=None)
        if len(self._saved.list(tenant, KIND)) >= MAX_PER_TENANT:
            raise InvalidRequest(
                f"A tenant keeps at most {MAX_PER_TENANT} destinations; delete one first.", [FieldError("", f"at most {MAX_PER_TENANT} destinations")]
            )
        now = rfc3339(self._clock.now())
        destination_id = destination_id or new_ulid(int(self._clock.now().timestamp() * 1000))
        self._secrets.put(self._secret_name(tenant, destination_id), _secret_values(secrets))
        record = {"id": destination_id, "name": name, "config": config.model_dump(mode="json"), "created_at": now, "updated_at": now, "profile": profile}
        self._saved.put(tenant, KIND, destination_id, record, new=True)
        return self._view(tenant, record, secrets)

    def update(self, tenant: str, destination_id: str, given: dict[str, Any]) -> dict[str, Any]:
        """Replace the destination; secrets not sent are kept (they cannot be read back to send again)."""
        record = self._record(tenant, destination_id)
        kept = DestinationSecrets(**self._secrets.get(self._secret_name(tenant, destination_id)))
        config, secrets, name = self._parse(given, keep=kept)
        stored_config = config.model_dump(mode="json")
        moved = [k for k in _WHERE_SECRETS_GO if stored_config.get(k) != record["config"].get(k)]
        if moved and not any(given.get(k) not in (None, MASK) for k in _SECRET_FIELDS):
            # The stored secret follows its server: a caller who cannot read it must not send it somewhere else.
            raise InvalidRequest(
                f"The {', '.join(moved)} changed: send the password or private key again.",
                [FieldError("/password", "required when the server or user changes")],
            )
        self._secrets.put(self._secret_name(tenant, destination_id), _secret_values(secrets))
        record = {**record, "name": name, "config": stored_config, "updated_at": rfc3339(self._clock.now())}
        self._saved.put(tenant, KIND, destination_id, record, new=False)
        return self._view(tenant, record, secrets)

    def get(self, tenant: str, destination_id: str) -> dict[str, Any]:
        record = self._record(tenant, destination_id)
        return self._view(tenant, record, DestinationSecrets(**self._secrets.get(self._secret_name(tenant, destination_id))))

    def is_profile(self, tenant: str, destination_id: str) -> bool:
        """Whether the destination was created as an export profile (NotFound if there is none): its record only, no secret."""
        return _is_profile(self._record(tenant, destination_id))

    def list(self, tenant: str, *, profiles_only: bool = False) -> list[dict[str, Any]]:
        records = sorted((r for r in self._saved.list(tenant, KIND) if _is_profile(r) or not profiles_only), key=lambda r: r["id"], reverse=True)
        return [self._view(tenant, r, DestinationSecrets(**self._secrets.get(self._secret_name(tenant, r["id"])))) for r in records]

    def delete(self, tenant: str, destination_id: str) -> None:
        if not self._saved.delete(tenant, KIND, destination_id):
            raise NotFound(f"No destination {shown(destination_id)}.")
        self._secrets.delete(self._secret_name(tenant, destination_id))

    def open(self, tenant: str, destination_id: str, timeouts: Timeouts = TRANSFER_TIMEOUTS) -> Destination:
        """The destination, ready to use; nothing connects until it is used (then a host on a private address fails at "connect")."""
        record = self._record(tenant, destination_id)
        config = _CONFIG.validate_python(record["config"])
        secrets = DestinationSecrets(**self._secrets.get(self._secret_name(tenant, destination_id)))
        return self._opener(tenant, config, secrets, timeouts)

    def check(self, tenant: str, destination_id: str) -> dict[str, Any]:
        """Connect, log in, write and remove a probe now; which step failed, if one did (a silent server within seconds)."""
        try:
            self.open(tenant, destination_id, check_timeouts()).check()
        except DestinationFailed as exc:
            return {"ok": False, "step": exc.step, "reason": exc.reason}
        return {"ok": True}

    def _record(self, tenant: str, destination_id: str) -> dict[str, Any]:
        record = self._saved.get(tenant, KIND, destination_id)
        if record is None:
            raise NotFound(f"No destination {shown(destination_id)}.")
        return record

    @staticmethod
    def _secret_name(tenant: str, destination_id: str) -> str:
        return f"{tenant}/destinations/{destination_id}"

    @staticmethod
    def _parse(given: dict[str, Any], keep: DestinationSecrets | None) -> tuple[Any, DestinationSecrets, str]:
        """One flat document -> (config, secrets, name); a masked or absent secret keeps the stored one."""
        name = given.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise InvalidRequest("A destination needs a name of 1 to 200 characters.", [FieldError("/name", "1 to 200 characters")])
        sent = {k: v for k, v in given.items() if k in _SECRET_FIELDS and v not in (None, MASK)}
        config_fields = {k: v for k, v in given.items() if k not in _SECRET_FIELDS and k not in _OWN_FIELDS and k not in _SHOWN_ONLY}
        try:
            config = _CONFIG.validate_python(config_fields)
            kept = {k: v.get_secret_value() for k in _SECRET_FIELDS if keep is not None and (v := getattr(keep, k)) is not None}
            secrets = DestinationSecrets(**{**kept, **sent})
            secrets.check_for(config)
        except ValidationError as exc:
            # The location's first part is the config's form (sftp, ftp...), which the sender wrote as "type".
            errors = [FieldError(pointer_of(e["loc"][1:]) or "/", e["msg"]) for e in exc.errors(include_input=False)]
            raise InvalidRequest(f"The destination is refused: {', '.join(e.pointer for e in errors)}.", errors) from None
        except ValueError as exc:
            raise InvalidRequest(f"The destination is refused: {exc}.", [FieldError("/password", str(exc))]) from None
        return config, secrets, name

    @staticmethod
    def _view(tenant: str, record: dict[str, Any], secrets: DestinationSecrets) -> dict[str, Any]:
        view = {"id": record["id"], "name": record["name"], **record["config"], "created_at": record["created_at"], "updated_at": record["updated_at"]}
        view["profile"] = _is_profile(record)
        if record["config"].get("role_arn"):
            view["external_id"] = role_external_id(tenant)  # what the role's trust policy must ask for
        if secrets.password is not None:
            view["password"] = MASK
        view["has_private_key"] = secrets.private_key is not None
        return view


def _is_profile(record: dict[str, Any]) -> bool:
    # Saved before profiles were told apart, a destination may be a profile a configuration names: it stays one.
    return record.get("profile", True)


def _secret_values(secrets: DestinationSecrets) -> dict[str, str]:
    return {k: v.get_secret_value() for k in _SECRET_FIELDS if (v := getattr(secrets, k)) is not None}
