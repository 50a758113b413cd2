"""Seed 003's automatic CSV export: profiles (destinations, limited by plan), a configuration per data area, nightly runs, history.

A run is an ordinary export_csv job with `schedule` in its args. The configuration's
watermark and last night move only when its export succeeded (compare-and-set), so a
night is exported once and the next run starts where the last one stopped: a record
changed while an export runs falls after its as-of time (`changedBefore`), so it is in
the next run, and in that one only. The as-of time is never later than the start of a
job still writing records (its rows are stamped before they are committed). A failed run deactivates the configuration until
someone saves it active again, writes a failed history entry and mails the tenant's
technical contact with the profile, the module, the phase and the reason.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, ValidationError

from ferry.core.clock import Clock, rfc3339
from ferry.core.ids import new_ulid
from ferry.core.errors import Conflict, FerryError, FieldError, InvalidRequest, NotFound, ServiceUnavailable, pointer_of, shown
from ferry.core.lazy_model import LazyModel
from ferry.datatypes.registry import UnsupportedImport, named
from ferry.destinations.catalogue import Destinations
from ferry.exports.kinds import EXPORT, FilePrefix, scheduled_export_args
from ferry.jobs.kinds import kind_of
from ferry.jobs.model import JobStatus
from ferry.jobs.ports import Leases, SavedItems
from ferry.jobs.service import JobService, Submission
from ferry.mail.notices import Mail, Mailer
from ferry.schedules.due import due_night
from ferry.tenants.settings import Settings

CONFIG, ALL_TENANTS, SCHEDULED, HISTORY = "exportconfig", "*", "scheduledconfig", "exporthistory"
HISTORY_SECONDS = 90 * 24 * 3600  # seed 003 lists the exports of the last 90 days
PLAN_PROFILES = {"enterprise": 1, "enterprise_plus": 3, "enterprise_pro": 5}
TEST_RECORDS = 10
RUN_LEASE_SECONDS = 6 * 3600  # longer than any export; a crashed run frees its configuration after it
# The area whose configuration names a period instead of an interval, and runs every night.
PERIOD_AREAS = ("Appointments",)
_FAILED_STEP = re.compile(r"The (?P<step>\w+) step failed: (?P<reason>.*)", re.DOTALL)


@dataclass
class Tick:
    """What an hourly tick did: the exports started, the configurations refused (now inactive), those left for the next tick."""

    started: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    postponed: list[dict[str, str]] = field(default_factory=list)


class Period(LazyModel):
    model_config = ConfigDict(extra="forbid")

    daysBefore: int = Field(default=0, ge=0, le=3660, description="Appointments from this many days before the run")
    daysAfter: int = Field(default=30, ge=0, le=3660, description="...to this many days after it")


class ExportConfigIn(LazyModel):
    """One data area's automatic export."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"active": True, "profileId": "01K...", "interval": "daily", "fields": ["id", "name", "emails"], "prefix": "crm_"}]},
    )

    active: bool = False
    profileId: str | None = Field(default=None, max_length=100)
    filter: dict[str, Any] = Field(default_factory=dict)
    fields: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=500)
    interval: Literal["daily", "weekly", "monthly"] | None = None
    period: Period | None = None
    prefix: FilePrefix = ""
    headers: Literal["names", "labels"] = "names"
    multiValue: Literal["join", "spread"] = "join"
    dateInName: bool = True
    onlyChanged: bool = False


def _refused(exc: ValidationError) -> InvalidRequest:
    errors = [FieldError(pointer_of(e["loc"]), e["msg"]) for e in exc.errors(include_input=False)]
    return InvalidRequest(f"Refused: {', '.join(e.pointer for e in errors)}.", errors)


class ScheduledExports:
    def __init__(
        self,
        saved: SavedItems,
        destinations: Destinations,
        settings: Settings,
        jobs: JobService,
        leases: Leases,
        mailer: Callable[[], Mailer],
        clock: Clock,
        default_time_zone: str,
    ) -> None:
        self._default_time_zone = default_time_zone
        self._saved = saved
        self._destinations = destinations
        self._settings = settings
        self._jobs = jobs
        self._leases = leases
        self._mailer = mailer  # made when a mail is to be sent: only the functions that send hold SES
        self._clock = clock

    def _as_of(self, tenant: str) -> datetime:
        """Now, or the start of the tenant's oldest job still writing records, if that is earlier.

        A writer stamps its records before it commits them: one stamped before the as-of time but
        not yet visible when the export reads would fall in neither this run nor the next (which
        starts at this as-of time). Such a writer is a job that has started and not ended; an
        export writes no records. (The jobs are found by their status index, which may lag a job
        started within the last second.)
        """
        as_of = self._clock.now()
        for status in (JobStatus.RUNNING, JobStatus.CANCELLING):
            cursor = None
            while True:
                jobs, cursor = self._jobs.list(tenant, status=status, limit=100, cursor=cursor)
                for job in jobs:
                    if kind_of(job.type).state_machine != "export":
                        as_of = min(as_of, job.started_at or job.created_at)
                if cursor is None:
                    break
        return as_of

    # --- profiles: destinations, as many as the plan allows -------------------------------------------

    def create_profile(self, tenant: str, given: dict[str, Any], profile_id: str | None = None) -> dict[str, Any]:
        plan = self._settings.get(tenant).plan
        if len(self.profiles(tenant)) >= PLAN_PROFILES[plan]:
            limit = PLAN_PROFILES[plan]
            raise InvalidRequest(
                f"The {plan} plan allows {limit} export profile{'s' if limit > 1 else ''}; delete one or change the plan.",
                [FieldError("", f"at most {limit} profiles on {plan}")],
            )
        return self._destinations.create(tenant, given, profile_id, profile=True)

    def profiles(self, tenant: str) -> list[dict[str, Any]]:
        """The destinations created as export profiles (those of seed 001's /destinations are not: the plan counts these)."""
        return self._destinations.list(tenant, profiles_only=True)

    def profile(self, tenant: str, profile_id: str) -> dict[str, Any]:
        self._a_profile(tenant, profile_id)
        return self._destinations.get(tenant, profile_id)

    def update_profile(self, tenant: str, profile_id: str, given: dict[str, Any]) -> dict[str, Any]:
        self._a_profile(tenant, profile_id)
        return self._destinations.update(tenant, profile_id, given)

    def check_profile(self, tenant: str, profile_id: str) -> dict[str, Any]:
        self._a_profile(tenant, profile_id)
        return self._destinations.check(tenant, profile_id)

    def delete_profile(self, tenant: str, profile_id: str) -> None:
        self._a_profile(tenant, profile_id)
        self.delete_destination(tenant, profile_id)

    def _a_profile(self, tenant: str, profile_id: str) -> None:
        """NotFound unless the destination is an export profile (a check of its record: its secret is not read)."""
        if not self._destinations.is_profile(tenant, profile_id):
            raise NotFound(f"No export profile {shown(profile_id)} (it is a destination of /destinations).")

    def delete_destination(self, tenant: str, destination_id: str) -> None:
        """Delete a destination (a profile or not), unless an active configuration exports to it."""
        using = [c["area"] for c in self.configs(tenant) if c["active"] and c.get("profileId") == destination_id]
        if using:
            raise Conflict(f"The profile is used by the active configuration of {', '.join(using)}; deactivate it or choose another profile first.")
        self._destinations.delete(tenant, destination_id)

    # --- configurations --------------------------------------------------------------------------------

    def put_config(self, tenant: str, area: str, given: dict[str, Any]) -> dict[str, Any]:
        try:
            data_type = named(area)
        except UnsupportedImport as exc:
            raise NotFound(f"No data area {shown(area)}; the areas are the registered data types.") from exc
        try:
            config = ExportConfigIn.model_validate(given)
        except ValidationError as exc:
            raise _refused(exc) from None
        takes_period = data_type.name in PERIOD_AREAS
        if config.active:
            missing = [name for name, value in (("profileId", config.profileId), ("period" if takes_period else "interval", config.period if takes_period else config.interval)) if value is None]
            if missing:
                raise InvalidRequest(
                    f"An active configuration needs {' and '.join(missing)}.", [FieldError(f"/{name}", "required when active") for name in missing]
                )
        if config.profileId is not None:
            try:
                self._a_profile(tenant, config.profileId)
            except NotFound as exc:
                raise InvalidRequest(exc.detail, [FieldError("/profileId", "an export profile's id (GET /export-profiles)")]) from None
        # The export's own checks (fields, filter), as a run would make them; a refusal points into this body, not at args.
        try:
            EXPORT.args({"dataType": data_type.name, "fields": config.fields, "filter": config.filter, "prefix": config.prefix})
        except InvalidRequest as exc:
            exc.errors = [FieldError(e.pointer.removeprefix("/args"), e.message) for e in exc.errors]
            raise
        body = config.model_dump(mode="json")
        if takes_period:
            body["interval"] = "daily"  # appointments run every night
        if body["interval"] == "daily":
            body["onlyChanged"] = True  # seed 003: always on for the daily export
        given_fields = {**body, "area": data_type.name, "lastFailure": None}

        def keep_runs(current: dict[str, Any]) -> dict[str, Any]:
            # Where the runs are is the scheduler's: kept from the stored item, compared and set, so that a save
            # racing a run's end never puts back the watermark and night from before it.
            return {**given_fields, "watermark": current.get("watermark"), "lastRunNight": current.get("lastRunNight")}

        record = keep_runs({})
        try:
            self._saved.put(tenant, CONFIG, data_type.name, record, new=True)
        except Conflict:
            record = self._saved.update(tenant, CONFIG, data_type.name, keep_runs) or record
        self._index(tenant, data_type.name, given_fields["active"])
        return record

    def config(self, tenant: str, area: str) -> dict[str, Any]:
        found = self._saved.get(tenant, CONFIG, named(area).name if _known(area) else area)
        if found is None:
            raise NotFound(f"No configuration for {shown(area)}.")
        return found

    def configs(self, tenant: str) -> list[dict[str, Any]]:
        return sorted(self._saved.list(tenant, CONFIG), key=lambda c: c["area"])

    def _index(self, tenant: str, area: str, active: bool) -> None:
        """The scheduler finds every tenant's active configurations here, without reading every tenant."""
        key = f"{tenant}#{area}"
        if active:
            if self._saved.get(ALL_TENANTS, SCHEDULED, key) is None:
                self._saved.put(ALL_TENANTS, SCHEDULED, key, {"tenant": tenant, "area": area}, new=True)
        else:
            self._saved.delete(ALL_TENANTS, SCHEDULED, key)

    # --- runs --------------------------------------------------------------------------------------------

    def tick(self, at: datetime) -> Tick:
        """Start the export of every active configuration whose night is due at `at`.

        Each configuration stands alone: one that cannot start never keeps the others from
        running. A refusal (its profile gone, its fields no longer valid) deactivates it and
        tells its technical contact, as a failed run does; anything else leaves it for the next tick.
        """
        tick = Tick()
        zones: dict[str, str] = {}  # each tenant's settings read once per tick
        for ref in self._saved.list(ALL_TENANTS, SCHEDULED):
            tenant, area = ref["tenant"], ref["area"]
            try:
                try:
                    job_id = self._start_if_due(tenant, area, at, zones)
                except ServiceUnavailable as exc:
                    # The run was stored and could not be launched: it ended failed, and its Job Ended (now, or
                    # from the sweeper if EventBridge was out of reach too) deactivates the configuration,
                    # records the night and tells the contact, once.
                    tick.refused.append({"tenant": tenant, "area": area, "reason": str(exc)})
                except FerryError as exc:
                    failure = {"phase": "submit", "reason": str(exc)}
                    stopped = self._deactivate(tenant, area, failure)
                    self._tell_technical_contact(tenant, area, self._profile_view(tenant, (stopped or {}).get("profileId")), failure)
                    tick.refused.append({"tenant": tenant, "area": area, "reason": str(exc)})
                else:
                    if job_id:
                        tick.started.append(job_id)
            except Exception as exc:  # noqa: BLE001 - a store or network fault: the next tick tries again
                tick.postponed.append({"tenant": tenant, "area": area, "reason": f"{type(exc).__name__}: {exc}"})
        return tick

    def _zone(self, tenant: str) -> str:
        return self._settings.get(tenant).timeZone or self._default_time_zone

    def _start_if_due(self, tenant: str, area: str, at: datetime, zones: dict[str, str]) -> str | None:
        config = self._saved.get(tenant, CONFIG, area)
        if not config or not config["active"]:
            return None
        if tenant not in zones:
            zones[tenant] = self._zone(tenant)
        last = date.fromisoformat(config["lastRunNight"]) if config.get("lastRunNight") else None
        night = due_night(config["interval"], at, zones[tenant], last)
        return self._run(tenant, config, night=night, at=at, test=False) if night else None

    def test(self, tenant: str, areas: list[str]) -> list[str]:
        """Export now the first 10 records of each of these configurations; no watermark moves."""
        return [job for area in areas if (job := self._run(tenant, self.config(tenant, area), night=None, at=self._clock.now(), test=True))]

    def test_profile(self, tenant: str, profile_id: str) -> list[str]:
        self._a_profile(tenant, profile_id)
        return self.test(tenant, [c["area"] for c in self.configs(tenant) if c["active"] and c.get("profileId") == profile_id])

    def _run(self, tenant: str, config: dict[str, Any], *, night: date | None, at: datetime, test: bool) -> str | None:
        area = config["area"]
        args: dict[str, Any] = {
            "dataType": area,
            "fields": config["fields"],
            # The window counts days from the tenant's date: the night's, or today's there for a test.
            "filter": self._period_filter(config, night or at.astimezone(ZoneInfo(self._zone(tenant))).date()),
            "destinationId": config["profileId"],
            "prefix": config["prefix"],
            "headers": config["headers"],
            "multiValue": config["multiValue"],
            "dateInName": config["dateInName"],
        }
        # The lease is this run's own (a ULID): a second tick of the same night finds it held and starts nothing.
        holder = f"{area}:{night.isoformat() if night else 'test'}:{new_ulid(int(self._clock.now().timestamp() * 1000))}"
        args["schedule"] = {"area": area, "night": night.isoformat() if night else None, "test": test, "lease": holder}
        if test:
            args["limit"] = TEST_RECORDS
        else:
            # The as-of time is when the run reads, by the store's clock (the tick's time only decides the night).
            args["changedBefore"] = rfc3339(self._as_of(tenant))
            if config.get("onlyChanged") and config.get("watermark"):
                args["changedSince"] = config["watermark"]
        if not test and self._leases.acquire(tenant, _lane(area), holder, RUN_LEASE_SECONDS) is not None:
            return None  # a run of this configuration is under way: never two at once
        try:
            # No Idempotency-Key: the lease keeps a night from starting twice, and a night whose run was
            # cancelled must be able to start again with a new as-of time.
            job, _ = self._jobs.submit(Submission(tenant, EXPORT, scheduled_export_args(args)))
        except Exception:
            if not test:
                self._leases.release(tenant, _lane(area), holder)
            raise
        return job.id

    @staticmethod
    def _period_filter(config: dict[str, Any], day: date) -> dict[str, Any]:
        if not config.get("period"):
            return config["filter"]
        period = config["period"]
        window = {"date": {"$gte": (day - timedelta(days=period["daysBefore"])).isoformat(), "$lte": (day + timedelta(days=period["daysAfter"])).isoformat()}}
        return {"$and": [config["filter"], window]} if config["filter"] else window

    def ended(self, job: dict[str, Any]) -> None:
        """A `Job Ended` of a scheduled or test export: move the watermark, or deactivate and tell; always the history."""
        schedule = (job.get("args") or {}).get("schedule")
        if job.get("type") != EXPORT.name or not schedule:
            return
        tenant, area = job["tenant"], schedule["area"]
        ok = job["status"] == "finished"
        config = self._saved.get(tenant, CONFIG, area) or {}
        profile = self._profile_view(tenant, config.get("profileId") or job["args"].get("destinationId"))
        failure = _failure_of(job)
        # A run whose end is told only after a later run exported its night (the sweeper publishing it once
        # EventBridge was back, its lease lapsed meanwhile) stops nothing: the night is done.
        # A test run has no night (None), so it is never superseded.
        superseded = bool(schedule.get("night") and config.get("lastRunNight")) and config["lastRunNight"] >= schedule["night"]
        failed = job["status"] == "failed" and not schedule.get("test") and not superseded
        if not schedule.get("test"):
            if ok:
                self._saved.update(tenant, CONFIG, area, _advance(schedule["night"], job["args"].get("changedBefore")))
            elif failed:
                self._deactivate(tenant, area, failure)
            self._leases.release(tenant, _lane(area), schedule["lease"])
        try:
            self._saved.put(tenant, HISTORY, job["id"], self._history_entry(job, area, profile, ok, schedule, failure), new=True, expires_in=HISTORY_SECONDS)
        except Conflict:
            return  # this Job Ended came before (events are delivered at least once): its mail went then
        if failed:
            self._tell_technical_contact(tenant, area, profile, failure)

    def _deactivate(self, tenant: str, area: str, failure: dict[str, str]) -> dict[str, Any] | None:
        """Stop a configuration that failed, until someone saves it active again; answers it as stored now."""
        stopped = self._saved.update(tenant, CONFIG, area, lambda c: {**c, "active": False, "lastFailure": failure})
        self._index(tenant, area, False)
        return stopped

    def _history_entry(self, job: dict[str, Any], area: str, profile: dict[str, Any] | None, ok: bool, schedule: dict[str, Any], failure: dict[str, str]) -> dict[str, Any]:
        return {
            "id": job["id"],
            "module": area,
            "date": job.get("terminated_at") or rfc3339(self._clock.now()),
            "destination": profile,
            "fileName": (job.get("result") or {}).get("file"),
            "ok": ok,
            "test": bool(schedule.get("test")),
            "details": {"status": job["status"], "records": job.get("progress", {}).get("processed", 0), "result": job.get("output"), **({"failure": failure} if not ok else {})},
        }

    def history(self, tenant: str, module: str | None = None, ok: bool | None = None) -> list[dict[str, Any]]:
        entries = sorted(self._saved.list(tenant, HISTORY), key=lambda h: h["id"], reverse=True)
        return [h for h in entries if (module is None or h["module"].casefold() == module.casefold()) and (ok is None or h["ok"] is ok)]

    def _profile_view(self, tenant: str, profile_id: str | None) -> dict[str, Any] | None:
        if not profile_id:
            return None
        try:
            return self._destinations.get(tenant, profile_id)  # secrets masked
        except NotFound:
            return {"id": profile_id, "deleted": True}

    def _tell_technical_contact(self, tenant: str, area: str, profile: dict[str, Any] | None, failure: dict[str, str]) -> None:
        contact = self._settings.get(tenant).technicalContact
        if not contact:
            return
        name = (profile or {}).get("name", "-")
        body = "\n".join(
            [
                f"The automatic export of {area} failed and has been deactivated; activate and save it again to resume.",
                f"Profile: {name} ({(profile or {}).get('type', '-')} {(profile or {}).get('host', '')})",
                f"Module: {area}",
                f"Phase: {failure['phase']}",
                f"Reason: {failure['reason']}",
            ]
        )
        try:
            self._mailer().send(Mail([contact], f"[Ferry] Automatic export of {area} failed ({failure['phase']})", body + "\n"))
        except Exception:  # a refused mail never undoes the deactivation; the history keeps the failure
            pass


def _lane(area: str) -> str:
    return f"exportconfig:{area}"


def _known(area: str) -> bool:
    try:
        named(area)
    except UnsupportedImport:
        return False
    return True


def _advance(night: str, as_of: str | None) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    def change(config: dict[str, Any]) -> dict[str, Any] | None:
        if config.get("lastRunNight") and config["lastRunNight"] >= night:
            return None  # that night was recorded already (a repeated event)
        return {**config, "lastRunNight": night, "watermark": as_of, "lastFailure": None}

    return change


def _failure_of(job: dict[str, Any]) -> dict[str, str]:
    output = job.get("output") or ""
    for phase in ("connect", "upload", "query", "write", "zip"):
        if f"the {phase} phase failed: " in output:
            return {"phase": phase, "reason": output.split(f"the {phase} phase failed: ", 1)[1]}
    step = _FAILED_STEP.match(output)  # "The <step> step failed: <reason>": MarkFailed's, or the launch's
    if step:
        return {"phase": step["step"], "reason": step["reason"]}
    return {"phase": "export", "reason": output or job.get("status", "")}

