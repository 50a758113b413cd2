"""Ferry bench: `make bench` (python -m bench from the repo root). Prints figures to stdout, writes nothing else.

(a) Import throughput: 100,000 synthetic Customers rows (seed 004's shape), as JSON
    chunks of 10,000 rows, each chunk json.loads + validate_rows + SqliteEntityStore.write_batch
    (CreateOrUpdate) into a fresh SQLite file in a temporary directory - what one worker
    invocation does per chunk, minus S3 and DynamoDB. Next to it, the floor: json.loads
    alone on the same bytes. Median of 3 runs; once on all CPUs, once pinned to one CPU.
(b) API cold import: `import ferry_api.app` timed inside fresh interpreters that see only
    what Lambda has (the runtime's boto3 and the layer's requirements; the developer's tools,
    pyOpenSSL among them, are refused), with the environment the handler reads at import set
    to dummy values. Median of 5 after one warm-up: once with the .pyc files (shipped), once
    with the layer's and the function's modules compiled from source (none shipped). Bar:
    250 ms with .pyc, and no pandas, numpy, pymongo or aws_xray_sdk imported.

(c) CSV import: 200,000 Customers rows as one CSV (~50 MB, dotted headers). In process:
    csv_table.open_table + row_of + validate_rows + write_batch per 10,000 rows, next to
    the floor of `pandas.read_csv` alone on the same bytes. Then through the local stack,
    as a user does it: POST /uploads, PUT the file, POST /jobs (import_csv), poll until it
    ends; its wall time, and the worker's peak memory (its instances' VmHWM, what Lambda
    reports as Max Memory Used), against 512 MB.

(d) Export: the same Customers rows written into the SQLite store, then query (pages of
    10,000, projection of 11 fields) + CSV + zip (deflate level 1) in process, next to the
    floor: the same rows as an already-built Arrow table written by pyarrow's CSV writer
    and zipped at the same level. Then 1,000,000 rows exported through the local stack
    (POST /jobs export_csv): wall time and the worker's peak memory against 512 MB.

Speed is measured here, never asserted by a test: the bars print PASS/FAIL and the
bench exits 0 regardless.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# `make bench` sets PYTHONPATH to these; the API import is timed in a child with the same roots.
SOURCE_PATHS = [REPO / "layers/ferry", REPO / "functions/api", REPO / "functions/worker", REPO / "local"]

ROWS = 100_000
CHUNK_ROWS = 10_000
RUNS = 3
IMPORT_RUNS = 5
TENANT = "bench"
JOB_ID = "01BENCH0000000000000000000"
NOW = "2026-11-22T12:00:00Z"

IMPORT_BAR_ROWS_PER_S = 50_000
API_IMPORT_BAR_MS = 250

API_ENV = {
    "FERRY_JOBS_TABLE": "jobs",
    "FERRY_API_KEYS_TABLE": "keys",
    "FERRY_FILES_BUCKET": "files",
    "FERRY_STATE_MACHINES": "import=arn:aws:states:us-east-1:123456789012:stateMachine:x",
    "FERRY_SQLITE_PATH": "/tmp/ferry-bench-unused.sqlite3",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
}


# --- (a) import throughput ---------------------------------------------------------------------


def customer(n: int) -> dict[str, Any]:
    """One Customers row shaped like seed 004's example, distinct per n."""
    return {
        "vendorId": f"{1_000_000_000 + n}",
        "name": f"ООО Светлячок {n}",
        "taxNumber": f"{100_000_000 + n}",
        "location": {
            "countryId": "UKR",
            "provinceId": "E5A6AAE5-7BAC-4C94-92E8-D07D84C1F18E",
            "addressLine": f"ул. Дегтяревская {n % 200 + 1}",
            "geoCoordinate": {"latitude": 50.462504 + (n % 1000) / 1e5, "longitude": 30.469118 - (n % 700) / 1e5},
            "settlement": "Киев",
        },
        "tradeNetworkId": None,
        "officeId": "FAD3D784-6A79-4AF8-BF66-DB214FADEF11",
    }


def customer_chunks(rows: int = ROWS, size: int = CHUNK_ROWS) -> list[bytes]:
    """The import's input as the worker sees it: one JSON array of rows per chunk."""
    return [
        json.dumps([customer(n) for n in range(start, min(start + size, rows))], ensure_ascii=False).encode()
        for start in range(0, rows, size)
    ]


@dataclass
class Run:
    loads_only: float  # seconds of json.loads alone over every chunk (the floor)
    loads: float  # seconds in json.loads within the pipeline
    validate: float
    write: float
    invalid: int
    refused: int
    stored: int

    @property
    def pipeline(self) -> float:
        return self.loads + self.validate + self.write


def run_import(chunks: list[bytes]) -> Run:
    from ferry.datatypes.registry import resolve
    from ferry.datatypes.validation import validate_rows
    from ferry.store.port import Collection
    from ferry.store.sqlite import SqliteEntityStore

    data_type, action = resolve("Customers", "CreateOrUpdate")
    collection = Collection(TENANT, "Customers")
    clock = time.perf_counter

    start = clock()
    for chunk in chunks:
        json.loads(chunk)
    loads_only = clock() - start

    loads = validate = write = 0.0
    invalid = refused = 0
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as tmp:
        store = SqliteEntityStore(os.path.join(tmp, "entities.sqlite3"))
        try:
            for number, chunk in enumerate(chunks):
                t0 = clock()
                rows = json.loads(chunk)
                t1 = clock()
                valid, rejected = validate_rows(data_type, rows, number * CHUNK_ROWS)
                t2 = clock()
                refusals = store.write_batch(collection, action, valid, writer=JOB_ID, now=NOW)
                t3 = clock()
                loads, validate, write = loads + t1 - t0, validate + t2 - t1, write + t3 - t2
                invalid += len(rejected)
                refused += len(refusals)
            stored = store.count(collection)
        finally:
            store.close()
    return Run(loads_only, loads, validate, write, invalid, refused, stored)


@dataclass
class ImportFigures:
    """Medians over the runs, in rows per second."""

    floor: float
    validate: float
    write: float
    pipeline: float
    invalid: int
    refused: int
    stored: int

    @property
    def ratio(self) -> float:
        return self.pipeline / self.floor


def measure_import(chunks: list[bytes], runs: int = RUNS) -> ImportFigures:
    results = [run_import(chunks) for _ in range(runs)]
    rows = sum(len(json.loads(c)) for c in chunks)

    def rate(seconds: Callable[[Run], float]) -> float:
        return rows / statistics.median(seconds(r) for r in results)

    last = results[-1]
    return ImportFigures(
        floor=rate(lambda r: r.loads_only),
        validate=rate(lambda r: r.validate),
        write=rate(lambda r: r.write),
        pipeline=rate(lambda r: r.pipeline),
        invalid=last.invalid,
        refused=last.refused,
        stored=last.stored,
    )


@contextmanager
def pinned_to_one_cpu() -> Iterator[int | None]:
    """Run the block on a single CPU (Linux); answers the CPU, or None where affinity is unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


# --- (b) API cold import -----------------------------------------------------------------------

# What Lambda has beside the function's code: the runtime's boto3 (with its dependencies) and the layer.
RUNTIME_DISTRIBUTIONS = ("boto3",)
LAYER_REQUIREMENTS = REPO / "layers/ferry/requirements.txt"
OWN_PACKAGES = ("ferry", "ferry_api")
UNWANTED_IN_API = ("pandas", "numpy", "pymongo", "aws_xray_sdk")

# The child refuses the packages Lambda would not have (the developer's tools: pytest, moto, pyOpenSSL...), so
# that the libraries take the code path they take there (botocore imports pyOpenSSL when it finds it). With
# `from_source`, the layer's and the function's modules are compiled from source, as when no .pyc is shipped;
# the standard library and the runtime's boto3 keep theirs, as on Lambda.
CHILD = """
import json, sys, time
from importlib.machinery import PathFinder, SourceFileLoader

config = json.loads(sys.argv[1])
blocked, from_source = set(config["blocked"]), set(config["from_source"])


class FromSource(SourceFileLoader):
    def get_code(self, fullname):
        return self.source_to_code(self.get_data(self.path), self.path)


class LambdaPackages:
    @staticmethod
    def find_spec(name, path=None, target=None):
        top = name.partition(".")[0]
        if top in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not on Lambda)", name=name)
        if top not in from_source:
            return None
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and type(spec.loader) is SourceFileLoader:
            spec.loader = FromSource(spec.loader.name, spec.loader.path)
        return spec


sys.meta_path.insert(0, LambdaPackages)
start = time.perf_counter()
import ferry_api.app
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "modules": [m for m in config["unwanted"] if m in sys.modules]}))
"""


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _closure(requirements: Iterable[str]) -> set[str]:
    """The distributions `requirements` need, themselves included (installed ones, with the extras they ask for)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        wanted = todo.pop()
        name = canonicalize_name(wanted.name)
        if name in found and not wanted.extras:
            continue
        found.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in {"", *wanted.extras}):
                todo.append(requirement)
    return found


def lambda_import_config(from_source: bool) -> dict[str, Any]:
    """The child's configuration: the top-level modules Lambda would not have, and those compiled from source."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    runtime = _closure(RUNTIME_DISTRIBUTIONS)
    layer = _closure(_requirements(LAYER_REQUIREMENTS)) - runtime
    blocked, layer_modules = [], list(OWN_PACKAGES)
    for module, distributions in metadata.packages_distributions().items():
        names = {canonicalize_name(d) for d in distributions}
        if names & layer:
            layer_modules.append(module)
        elif not names & runtime:
            blocked.append(module)
    return {"blocked": sorted(blocked), "from_source": sorted(layer_modules) if from_source else [], "unwanted": list(UNWANTED_IN_API)}


def child_env() -> dict[str, str]:
    """A clean environment: no real AWS, Ferry, MongoDB or Powertools settings leak in; dummy ones go in."""
    leaking = ("AWS_", "FERRY_", "MONGODB_", "POWERTOOLS_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaking)}
    env.update(API_ENV)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in SOURCE_PATHS)
    return env


def import_api_once(config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config)], env=child_env(), cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"import ferry_api.app failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class ApiImport:
    ms: float
    runs_ms: list[float]
    unwanted: list[str]  # of UNWANTED_IN_API, those the import brought in


def measure_api_import(from_source: bool, runs: int = IMPORT_RUNS) -> ApiImport:
    config = lambda_import_config(from_source)
    import_api_once(config)  # warm-up: writes the .pyc files (used by the runs with .pyc) and warms the file cache
    results = [import_api_once(config) for _ in range(runs)]
    runs_ms = [r["seconds"] * 1000 for r in results]
    return ApiImport(ms=statistics.median(runs_ms), runs_ms=runs_ms, unwanted=sorted({m for r in results for m in r["modules"]}))


# --- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def report_import(chunks: list[bytes]) -> None:
    size_mb = sum(len(c) for c in chunks) / 1e6
    print(f"(a) Customers import, CreateOrUpdate: {ROWS:,} rows in {len(chunks)} JSON chunks of {CHUNK_ROWS:,} ({size_mb:.1f} MB)")
    print(f"    per chunk: json.loads + validate_rows + SqliteEntityStore.write_batch into a fresh file; median of {RUNS} runs")
    print("    the bench is single-threaded: 'one CPU' pins the process to a single core, as a ~1 vCPU Lambda would run it")
    try:
        everywhere = measure_import(chunks)
        with pinned_to_one_cpu() as cpu:
            one = measure_import(chunks)
    except Exception:  # noqa: BLE001 - the bench reports and carries on
        print("    could not run:")
        print("    " + traceback.format_exc().strip().replace("\n", "\n    "))
        print()
        return
    one_label = f"one CPU (#{cpu})" if cpu is not None else "one CPU (n/a)"
    print()
    print(f"    {'':<36}{f'all {os.cpu_count()} CPUs':>16}{one_label:>18}")
    lines = [
        ("json.loads alone (floor), rows/s", f"{everywhere.floor:,.0f}", f"{one.floor:,.0f}"),
        ("validate only, rows/s", f"{everywhere.validate:,.0f}", f"{one.validate:,.0f}"),
        ("write only, rows/s", f"{everywhere.write:,.0f}", f"{one.write:,.0f}"),
        ("loads + validate + write, rows/s", f"{everywhere.pipeline:,.0f}", f"{one.pipeline:,.0f}"),
        ("  ratio to the json.loads floor", f"{everywhere.ratio:.3f}", f"{one.ratio:.3f}"),
        (
            f"  bar >= {IMPORT_BAR_ROWS_PER_S:,} rows/s",
            verdict(everywhere.pipeline >= IMPORT_BAR_ROWS_PER_S),
            verdict(one.pipeline >= IMPORT_BAR_ROWS_PER_S),
        ),
    ]
    for label, a, b in lines:
        print(f"    {label:<36}{a:>16}{b:>18}")
    print(
        f"    check: {one.stored:,} documents stored, {one.invalid} rows invalid, {one.refused} refused"
        + ("" if (one.stored, one.invalid, one.refused) == (ROWS, 0, 0) else "  <-- expected every row stored")
    )
    print()


def report_api_import() -> None:
    print(f"(b) API cold import: `import ferry_api.app` in a fresh interpreter with Lambda's packages only, median of {IMPORT_RUNS} after 1 warm-up")
    try:
        shipped = measure_api_import(from_source=False)
        compiled = measure_api_import(from_source=True)
    except Exception as exc:  # noqa: BLE001
        print("    could not run: " + str(exc).replace("\n", "\n    "))
        print(f"    bar <= {API_IMPORT_BAR_MS} ms: FAIL")
        print()
        return
    for label, api in (("with .pyc shipped", shipped), ("without .pyc", compiled)):
        runs = ", ".join(f"{ms:.0f}" for ms in api.runs_ms)
        print(f"    {label:<24}{api.ms:>8.0f} ms   (runs: {runs} ms)")
    unwanted = sorted(set(shipped.unwanted) | set(compiled.unwanted))
    print(f"    {'imported of ' + '/'.join(UNWANTED_IN_API):<48}{', '.join(unwanted) or 'none'}")
    print(f"    bar <= {API_IMPORT_BAR_MS} ms with .pyc, none of them: {verdict(shipped.ms <= API_IMPORT_BAR_MS and not unwanted)}")
    print()


# --- (c) CSV import ---------------------------------------------------------------------------

CSV_ROWS = 200_000
CSV_HEADER = [
    "vendorId", "name", "taxNumber", "location.countryId", "location.provinceId", "location.addressLine",
    "location.geoCoordinate.latitude", "location.geoCoordinate.longitude", "location.settlement", "officeId",
]
WORKER_MEMORY_BAR_MB = 512


def customers_csv(rows: int = CSV_ROWS) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for n in range(rows):
        row = customer(n)
        location = row["location"]
        writer.writerow([
            row["vendorId"], row["name"], row["taxNumber"], location["countryId"], location["provinceId"], location["addressLine"],
            location["geoCoordinate"]["latitude"], location["geoCoordinate"]["longitude"], location["settlement"], row["officeId"],
        ])
    return out.getvalue().encode()


def csv_in_process(content: bytes) -> tuple[float, float | None]:
    """Seconds of the worker's CSV path in this process, and of pandas.read_csv alone (None without pandas)."""
    import io
    from itertools import islice

    from ferry.datatypes.paths import field_paths
    from ferry.datatypes.registry import resolve
    from ferry.datatypes.validation import validate_rows
    from ferry.imports.formats import csv_table
    from ferry.store.port import Collection
    from ferry.store.sqlite import SqliteEntityStore

    data_type, action = resolve("Customers", "CreateOrUpdate")
    paths = field_paths(data_type.model)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteEntityStore(str(Path(tmp) / "entities.sqlite3"))
        started = time.perf_counter()
        layout, records = csv_table.open_table(io.BytesIO(content), csv_table.CsvOptions(), paths)
        first = 0
        while batch := list(islice(records, CHUNK_ROWS)):
            rows = [csv_table.row_of(cells, layout, paths) for cells in batch]
            valid, _ = validate_rows(data_type, rows, first)
            store.write_batch(Collection(TENANT, "Customers"), action, valid, writer=JOB_ID, now=NOW)
            first += len(batch)
        pipeline = time.perf_counter() - started
        store.close()
    try:
        import pandas
    except ImportError:
        return pipeline, None
    started = time.perf_counter()
    pandas.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    return pipeline, time.perf_counter() - started


def csv_through_the_local_stack(content: bytes) -> tuple[float, str, float]:
    """Wall seconds of a CSV import through the local stack, the job's status, and the worker's peak MB."""
    import secrets
    import urllib.request

    from ferry_local.stack import LocalStack
    from tests.e2e.client import FerryClient

    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as tmp, LocalStack(state_dir=Path(tmp), keys={TENANT: key}, fire_schedules=False, log_requests=False) as stack:
        client = FerryClient(stack.url, key)
        started = time.perf_counter()
        grant = client.post("/uploads", {"name": "customers.csv", "mime_type": "text/csv"}).json()
        put = urllib.request.Request(grant["url"], data=content, method="PUT", headers=grant["headers"])
        urllib.request.urlopen(put, timeout=300).close()
        body = {
            "type": "import_csv",
            "args": {"dataType": "Customers", "actionType": "CreateOrUpdate"},
            "attachment": {"name": "customers.csv", "mime_type": "text/csv", "file": grant["file"]},
        }
        job = client.wait(client.post("/jobs", body).json()["id"], timeout=1800)
        return time.perf_counter() - started, f"{job['status']}, {job['progress']['succeeded']:,} rows", stack.peak_memory_mb("WorkerFunction")


def report_csv_import() -> None:
    content = customers_csv()
    print(f"(c) CSV import, CreateOrUpdate: {CSV_ROWS:,} Customers rows, one CSV of {len(content) / 1e6:.1f} MB")
    pipeline, floor = csv_in_process(content)
    print(f"    {'in process: read + validate + write':<42}{CSV_ROWS / pipeline:>10,.0f} rows/s  ({pipeline:.2f} s)")
    if floor is None:
        print("    pandas.read_csv floor: pandas is not installed (pip install -r requirements-dev.txt)")
    else:
        print(f"    {'floor: pandas.read_csv alone':<42}{CSV_ROWS / floor:>10,.0f} rows/s  ({floor:.2f} s)")
        print(f"    {'ratio to the floor':<42}{floor / pipeline:>10.2f}")
    wall, outcome, peak = csv_through_the_local_stack(content)
    print(f"    {'through the local stack (/uploads, PUT, job)':<42}{CSV_ROWS / wall:>10,.0f} rows/s  ({wall:.1f} s wall, {outcome})")
    print(f"    {'worker peak memory':<42}{peak:>10.0f} MB   bar < {WORKER_MEMORY_BAR_MB} MB: {verdict(0 < peak < WORKER_MEMORY_BAR_MB)}")
    print()


# --- (d) export --------------------------------------------------------------------------------

EXPORT_ROWS = 1_000_000
EXPORT_FIELDS = [
    "vendorId", "name", "taxNumber", "location.countryId", "location.provinceId", "location.addressLine",
    "location.geoCoordinate.latitude", "location.geoCoordinate.longitude", "location.settlement", "tradeNetworkId", "officeId",
]


def fill_store(path: Path, rows: int) -> None:
    from ferry.datatypes.registry import resolve
    from ferry.datatypes.validation import validate_rows
    from ferry.store.port import Collection
    from ferry.store.sqlite import SqliteEntityStore

    data_type, action = resolve("Customers", "CreateOrUpdate")
    store = SqliteEntityStore(str(path))
    for start in range(0, rows, CHUNK_ROWS):
        valid, _ = validate_rows(data_type, [customer(n) for n in range(start, min(start + CHUNK_ROWS, rows))], start)
        store.write_batch(Collection(TENANT, "Customers"), action, valid, writer=JOB_ID, now=NOW)
    store.close()


def export_in_process(path: Path) -> tuple[float, int, float | None]:
    """Seconds of query + CSV + zip, the CSV's bytes, and the pyarrow floor's seconds (None without pyarrow)."""
    import io
    import zipfile

    from ferry.exports.csv_zip import CsvZipWriter, columns_for
    from ferry.store.port import Collection, Query
    from ferry.store.sqlite import SqliteEntityStore

    store = SqliteEntityStore(str(path))
    columns = columns_for(EXPORT_FIELDS, labels=None, multi_value="join", widths={})
    kept: list[list[Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryFile() as sink:
        writer = CsvZipWriter(sink, "Customers.csv", columns, modified=datetime(2026, 11, 22))
        after = None
        while True:
            page = store.values(Collection(TENANT, "Customers"), Query(fields=writer.paths, limit=CHUNK_ROWS, after=after))
            writer.write(page.rows)
            kept.extend(page.rows)  # for the floor's table, outside the timed work's memory concerns
            if page.next_after is None:
                break
            after = page.next_after
        written = writer.close()
    pipeline = time.perf_counter() - started
    store.close()
    try:
        import pyarrow
        import pyarrow.csv
    except ImportError:
        return pipeline, written.csv_bytes, None
    table = pyarrow.table(dict(zip(EXPORT_FIELDS, map(list, zip(*kept)))))
    started = time.perf_counter()
    with tempfile.TemporaryFile() as sink, zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("Customers.csv", "w", force_zip64=True) as member:
            buffer = io.BytesIO()
            pyarrow.csv.write_csv(table, buffer)
            member.write(buffer.getvalue())
    return pipeline, written.csv_bytes, time.perf_counter() - started


def export_through_the_local_stack(path: Path) -> tuple[float, str, float]:
    import secrets

    from ferry_local.stack import LocalStack
    from tests.e2e.client import FerryClient

    key = secrets.token_hex(16)
    with LocalStack(state_dir=path.parent, keys={TENANT: key}, fire_schedules=False, log_requests=False) as stack:
        client = FerryClient(stack.url, key)
        started = time.perf_counter()
        job = client.wait(client.post("/jobs", {"type": "export_csv", "args": {"dataType": "Customers", "fields": EXPORT_FIELDS}}).json()["id"], timeout=1800)
        return time.perf_counter() - started, f"{job['status']}, {job['progress']['processed']:,} rows", stack.peak_memory_mb("WorkerFunction")


def report_export() -> None:
    print(f"(d) Export of {EXPORT_ROWS:,} Customers rows, {len(EXPORT_FIELDS)} fields, to a zipped CSV (deflate level 1)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "entities.sqlite3"
        fill_store(path, EXPORT_ROWS)
        pipeline, csv_bytes, floor = export_in_process(path)
        print(f"    {'in process: query + CSV + zip':<42}{EXPORT_ROWS / pipeline:>10,.0f} rows/s  {csv_bytes / 1e6 / pipeline:>6.1f} MB/s of CSV ({pipeline:.1f} s)")
        if floor is None:
            print("    floor: pyarrow is not installed (pip install -r requirements-dev.txt)")
        else:
            print(f"    {'floor: pyarrow CSV writer + zip':<42}{EXPORT_ROWS / floor:>10,.0f} rows/s  {csv_bytes / 1e6 / floor:>6.1f} MB/s of CSV ({floor:.1f} s)")
            print(f"    {'ratio to the floor':<42}{floor / pipeline:>10.2f}   goal >= 0.5: {verdict(floor / pipeline >= 0.5)}")
        wall, outcome, peak = export_through_the_local_stack(path)
        print(f"    {'through the local stack (POST /jobs)':<42}{EXPORT_ROWS / wall:>10,.0f} rows/s  ({wall:.1f} s wall, {outcome})")
        print(f"    {'worker peak memory':<42}{peak:>10.0f} MB   bar < {WORKER_MEMORY_BAR_MB} MB: {verdict(0 < peak < WORKER_MEMORY_BAR_MB)}")
    print()


def main() -> int:
    print(
        f"Ferry bench - Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    print()
    report_import(customer_chunks())
    report_api_import()
    report_csv_import()
    report_export()
    print("Figures are measured, not asserted: the bench exits 0 whatever the bars say.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
