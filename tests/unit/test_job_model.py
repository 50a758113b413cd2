from datetime import UTC, datetime

from ferry.core.clock import parse_rfc3339, rfc3339
from ferry.core.ids import new_ulid, ulid_ceiling, ulid_floor
from ferry.jobs.model import ChunkCounts, JobStatus, Progress, sources_of


def test_statuses_never_go_back():
    assert sources_of(JobStatus.RUNNING) == {JobStatus.PENDING}
    assert sources_of(JobStatus.CANCELLING) == {JobStatus.PENDING, JobStatus.RUNNING}
    assert sources_of(JobStatus.CANCELLED) == {JobStatus.CANCELLING}
    for ended in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED):
        assert ended.ended
        assert ended not in sources_of(JobStatus.PENDING) | sources_of(JobStatus.RUNNING)


def test_progress_sums_chunks():
    progress = Progress.of(30, {"0": ChunkCounts(10, 8, 2), "1": ChunkCounts(10, 10, 0)})
    assert (progress.processed, progress.succeeded, progress.failed, progress.percent) == (20, 18, 2, 66.7)
    assert Progress.of(None, {}).percent == 0.0


def test_ulids_sort_by_time_and_bound_ranges():
    early, late = new_ulid(1_700_000_000_000), new_ulid(1_700_000_000_001)
    assert len(early) == 26 and early < late
    assert ulid_floor(1_700_000_000_000) <= early <= ulid_ceiling(1_700_000_000_000) < late


def test_timestamps_are_rfc3339_utc_with_milliseconds():
    moment = datetime(2026, 11, 22, 3, 0, 0, 123456, tzinfo=UTC)
    assert rfc3339(moment) == "2026-11-22T03:00:00.123Z"
    assert parse_rfc3339("2026-11-22T03:00:00.123Z") == moment.replace(microsecond=123000)
