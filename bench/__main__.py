"""Ferry bench: `make bench` (python -m bench from the repo root). Prints figures to stdout, writes nothing else.

(a) Import hot path: 100,000 synthetic Customers rows (seed 004's shape), as JSON chunks of
    10,000 rows (the worker's chunk files), each chunk as one run_chunk step handles it minus
    S3 and DynamoDB, with the garbage collector paused as there: validate_json_rows (parse
    and validate in one pass) + SqliteEntityStore.write_batch (CreateOrUpdate) into a fresh
    file; and validate_json_rows + MongoEntityStore.write_batch up to the wire (pymongo's own
    bulk_write statements, encoded to BSON; no server). Each path's rows/s as a ratio to the
    floor, json.loads alone on the same bytes, measured in the same run (goals: 0.5 for
    SQLite, 1.0 for MongoDB). Median of 3 runs, pinned to one CPU.
(b) API cold import: the import of the ApiFunction's handler module (template.yaml's Handler,
    ferry_api.handler) timed inside fresh interpreters that see only
    what Lambda has (the runtime's boto3 and the layer's requirements; the developer's tools,
    pyOpenSSL among them, are refused), with the ApiFunction's environment from template.yaml
    and dummy credentials, after the standard-library modules Lambda's runtime has imported
    before the handler. Median of 5 after one warm-up: once with the .pyc files (shipped), once
    with the layer's and the function's modules compiled from source (none shipped). Bar:
    250 ms with .pyc, and no pandas, numpy, pymongo or aws_xray_sdk imported.

(c) CSV import: 200,000 Customers rows as one CSV (~50 MB, dotted headers). In process:
    csv_table.open_table + row_of + validate_rows + write_batch per 10,000 rows, next to
    the floor of `pandas.read_csv` alone on the same bytes (goal: 0.4 of it). Then through
    the local stack, as a user does it: POST /uploads, PUT the file, POST /jobs (import_csv),
    poll until it ends; its wall time, and the worker's peak memory (its instances' VmHWM,
    what Lambda reports as Max Memory Used), against 512 MB.

(d) Export: the same Customers rows written into the SQLite store, then the values of 11
    fields read in pages of 10,000 (EntityStore.values) + CSV + zip (deflate level 1) in process, next to the
    floor: the same rows as an already-built Arrow table written by pyarrow's CSV writer
    and zipped at the same level. Then 1,000,000 rows exported through the local stack
    (POST /jobs export_csv): wall time and the worker's peak memory against 512 MB.

(e) A million rows: one JSON file of 1,000,000 Customers rows imported in process (the
    worker's plan, every chunk and finish on in-memory jobs and files) and through the local
    stack as a user does it (upload, job, poll): both times, the worker's peak memory against
    512 MB, and the import's cost at list prices from that run's worker durations, state
    transitions, DynamoDB writes and S3 requests (goal: under $0.01 per million rows).

Speed is measured here, never asserted by a test: figures are judged against goals (ratios
to floors of the same run, where there is a floor) and the bench exits 0 regardless.
"""
from __future__ import annotations

import json
import math
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

API_IMPORT_BAR_MS = 250
# The local stack's functions log from WARNING up here: their INFO lines (each job's life) would bury the figures.
QUIET = {"LogLevel": "WARNING"}
# The same for the work run in this process, with the metrics namespace the template gives the functions
# (without one, Powertools refuses each chunk's metrics and says so on every chunk).
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ferry")
# Nor do their metrics (an EMF line per chunk on stdout) belong among the figures.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

# The API's child runs with the ApiFunction's environment from template.yaml, deployed with a MongoDB secret as in
# AWS, and dummy credentials: nothing is called at import.
API_DEPLOYED_WITH = {"MongoDbSecret": "ferry/bench/mongodb"}
DUMMY_AWS_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


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
    """Seconds of one run over every chunk."""

    floor: float  # json.loads alone (the floor)
    floor_paused: float  # json.loads alone with the garbage collector paused, as the pipeline runs
    validate: float  # validate_json_rows, in the SQLite path
    sqlite_write: float  # SqliteEntityStore.write_batch of the validated rows
    mongo_validate: float  # validate_json_rows, in the MongoDB path
    mongo_encode: float  # MongoEntityStore.write_batch up to the wire: its operations as BSON
    invalid: int
    refused: int
    stored: int
    bson_bytes: int

    @property
    def sqlite_path(self) -> float:
        return self.validate + self.sqlite_write

    @property
    def mongo_path(self) -> float:
        return self.mongo_validate + self.mongo_encode


class EncodingCollection:
    """A pymongo Collection as far as bulk_write goes without a server.

    bulk_write builds its write statements with pymongo's own `_Bulk` (the requests'
    `_add_to_bulk`, as Collection.bulk_write does), then each statement is encoded to
    BSON with the collection's codec options, as the OP_MSG batches carry them. Only
    the socket and the server's reply are missing.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.bson_bytes = 0

    def create_indexes(self, indexes: Any) -> None:
        pass

    def bulk_write(self, requests: list[Any], ordered: bool = True) -> None:
        import bson
        from pymongo.synchronous.bulk import _Bulk

        bulk = _Bulk(self._collection, ordered, None)
        for request in requests:
            request._add_to_bulk(bulk)
        options = self._collection.codec_options
        self.bson_bytes += sum(len(bson.encode(statement, codec_options=options)) for _, statement in bulk.ops)


class EncodingClient:
    """A MongoClient (never connected) whose collections are EncodingCollections."""

    def __init__(self) -> None:
        from pymongo import MongoClient

        self._client = MongoClient("mongodb://127.0.0.1:9", connect=False)
        self.collections: dict[str, EncodingCollection] = {}

    def __getitem__(self, database: str) -> Any:
        client = self

        class Database:
            def __getitem__(self, name: str) -> EncodingCollection:
                return client.collections.setdefault(name, EncodingCollection(client._client[database][name]))

        return Database()

    def close(self) -> None:
        self._client.close()


def run_import(chunks: list[bytes]) -> Run:
    from ferry.core import collector
    from ferry.datatypes.registry import resolve
    from ferry.datatypes.validation import validate_json_rows
    from ferry.store.mongo import MongoEntityStore
    from ferry.store.port import Collection
    from ferry.store.sqlite import SqliteEntityStore

    data_type, action = resolve("Customers", "CreateOrUpdate")
    collection = Collection(TENANT, "Customers")
    clock = time.perf_counter

    start = clock()
    for chunk in chunks:
        json.loads(chunk)
    floor = clock() - start
    start = clock()
    with collector.paused():
        for chunk in chunks:
            json.loads(chunk)
    floor_paused = clock() - start

    validate = sqlite_write = 0.0
    invalid = refused = 0
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as tmp:
        store = SqliteEntityStore(os.path.join(tmp, "entities.sqlite3"))
        try:
            for number, chunk in enumerate(chunks):
                with collector.paused():  # as run_chunk does
                    t0 = clock()
                    valid, rejected, _ = validate_json_rows(data_type, chunk, number * CHUNK_ROWS)
                    t1 = clock()
                    refusals = store.write_batch(collection, action, valid, writer=JOB_ID, now=NOW)
                    t2 = clock()
                validate, sqlite_write = validate + t1 - t0, sqlite_write + t2 - t1
                invalid += len(rejected)
                refused += len(refusals)
            stored = store.count(collection)
        finally:
            store.close()

    client = EncodingClient()
    mongo = MongoEntityStore(client, "ferry")
    mongo_validate = mongo_encode = 0.0
    for number, chunk in enumerate(chunks):
        with collector.paused():
            t0 = clock()
            valid, _, _ = validate_json_rows(data_type, chunk, number * CHUNK_ROWS)
            t1 = clock()
            mongo.write_batch(collection, action, valid, writer=JOB_ID, now=NOW)
            t2 = clock()
        mongo_validate, mongo_encode = mongo_validate + t1 - t0, mongo_encode + t2 - t1
    mongo.close()
    bson_bytes = sum(c.bson_bytes for c in client.collections.values())
    return Run(floor, floor_paused, validate, sqlite_write, mongo_validate, mongo_encode, invalid, refused, stored, bson_bytes)


@dataclass
class ImportFigures:
    """Medians over the runs, in rows per second."""

    floor: float
    floor_paused: float
    validate: float
    sqlite_write: float
    sqlite_path: float
    mongo_encode: float
    mongo_path: float
    invalid: int
    refused: int
    stored: int
    bson_bytes: int


def measure_import(chunks: list[bytes], runs: int = RUNS) -> ImportFigures:
    results = [run_import(chunks) for _ in range(runs)]
    rows = sum(len(json.loads(c)) for c in chunks)

    def rate(seconds: Callable[[Run], float]) -> float:
        return rows / statistics.median(seconds(r) for r in results)

    last = results[-1]
    return ImportFigures(
        floor=rate(lambda r: r.floor),
        floor_paused=rate(lambda r: r.floor_paused),
        validate=rate(lambda r: r.validate),
        sqlite_write=rate(lambda r: r.sqlite_write),
        sqlite_path=rate(lambda r: r.sqlite_path),
        mongo_encode=rate(lambda r: r.mongo_encode),
        mongo_path=rate(lambda r: r.mongo_path),
        invalid=last.invalid,
        refused=last.refused,
        stored=last.stored,
        bson_bytes=last.bson_bytes,
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
# The standard library's modules Lambda's Python runtime has imported before it imports the handler: those of
# awslambdaric's bootstrap, marshaller and log utilities (github.com/aws/aws-lambda-python-runtime-interface-client).
RUNTIME_MODULES = ("decimal", "enum", "importlib", "json", "logging", "math", "os", "time", "traceback")

# The child refuses the packages Lambda would not have (the developer's tools: pytest, moto, pyOpenSSL...), so
# that the libraries take the code path they take there (botocore imports pyOpenSSL when it finds it). With
# `from_source`, the layer's and the function's modules are compiled from source, as when no .pyc is shipped;
# the standard library and the runtime's boto3 keep theirs, as on Lambda.
CHILD = """
import importlib, json, sys, time
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
for module in config["runtime_modules"]:
    __import__(module)
start = time.perf_counter()
importlib.import_module(config["handler_module"])
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
    return {
        "blocked": sorted(blocked),
        "from_source": sorted(layer_modules) if from_source else [],
        "runtime_modules": list(RUNTIME_MODULES),
        "unwanted": list(UNWANTED_IN_API),
        "handler_module": api_function().handler.rpartition(".")[0],
    }


def api_function() -> Any:
    """The ApiFunction as template.yaml declares it (deployed with a MongoDB secret): its handler and environment."""
    from ferry_local.template import Stack

    return Stack.from_template(REPO / "template.yaml", parameter_overrides=API_DEPLOYED_WITH).function("ApiFunction")


def child_env() -> dict[str, str]:
    """A clean environment: no real AWS, Ferry, MongoDB, Powertools or pydantic settings leak in; the API function's go in."""
    leaking = ("AWS_", "FERRY_", "MONGODB_", "POWERTOOLS_", "PYDANTIC_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaking)}
    env.update(api_function().environment)
    env.update(DUMMY_AWS_ENV)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in SOURCE_PATHS)
    return env


def import_api_once(config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config)], env=child_env(), cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {config['handler_module']} failed (exit {done.returncode}):\n{done.stderr.strip()}")
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


def met(ok: bool) -> str:
    return "met" if ok else "not met"


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def goal(ratio: float, at_least: float) -> str:
    return f"goal >= {at_least}: {met(ratio >= at_least)}"


def report_import(chunks: list[bytes]) -> None:
    size_mb = sum(len(c) for c in chunks) / 1e6
    print(f"(a) Customers import, CreateOrUpdate: {ROWS:,} rows in {len(chunks)} JSON chunks of {CHUNK_ROWS:,} ({size_mb:.1f} MB)")
    print("    per chunk, what one run_chunk step does minus S3 and DynamoDB: validate_json_rows (parse + validate in one")
    print("    pass), then the store's write_batch: SQLite into a fresh file, or MongoDB's bulk_write up to the wire (pymongo")
    print(f"    builds its statements and encodes them to BSON; no server). Median of {RUNS} runs, pinned to one CPU (~1 vCPU).")
    try:
        with pinned_to_one_cpu():
            figures = measure_import(chunks)
    except Exception:  # noqa: BLE001 - the bench reports and carries on
        print("    could not run:")
        print("    " + traceback.format_exc().strip().replace("\n", "\n    "))
        print()
        return
    sqlite_ratio, mongo_ratio = figures.sqlite_path / figures.floor, figures.mongo_path / figures.floor
    for label, value in [
        ("json.loads alone (the floor)", f"{figures.floor:>10,.0f} rows/s"),
        ("json.loads alone, collector paused", f"{figures.floor_paused:>10,.0f} rows/s  (the pipelines run so)"),
        ("validate_json_rows alone", f"{figures.validate:>10,.0f} rows/s"),
        ("SQLite write_batch alone", f"{figures.sqlite_write:>10,.0f} rows/s"),
        ("MongoDB write_batch to BSON alone", f"{figures.mongo_encode:>10,.0f} rows/s  ({figures.bson_bytes / 1e6:.1f} MB of BSON)"),
        ("parse + validate + SQLite write", f"{figures.sqlite_path:>10,.0f} rows/s"),
        ("  ratio to the floor", f"{sqlite_ratio:>10.2f}   {goal(sqlite_ratio, 0.5)}; to the paused floor {figures.sqlite_path / figures.floor_paused:.2f}"),
        ("parse + validate + MongoDB BSON", f"{figures.mongo_path:>10,.0f} rows/s"),
        ("  ratio to the floor", f"{mongo_ratio:>10.2f}   {goal(mongo_ratio, 1.0)}; to the paused floor {figures.mongo_path / figures.floor_paused:.2f}"),
    ]:
        print(f"    {label:<42}{value}")
    print(
        f"    check: {figures.stored:,} documents stored, {figures.invalid} rows invalid, {figures.refused} refused"
        + ("" if (figures.stored, figures.invalid, figures.refused) == (ROWS, 0, 0) else "  <-- expected every row stored")
    )
    print()


def report_api_import() -> None:
    print(f"(b) API cold import: `import {api_function().handler.rpartition('.')[0]}` in a fresh interpreter with Lambda's packages only, median of {IMPORT_RUNS} after 1 warm-up")
    try:
        shipped = measure_api_import(from_source=False)
        compiled = measure_api_import(from_source=True)
    except Exception as exc:  # noqa: BLE001
        print("    could not run: " + str(exc).replace("\n", "\n    "))
        print(f"    goal <= {API_IMPORT_BAR_MS} ms: not met")
        print()
        return
    for label, api in (("with .pyc shipped", shipped), ("without .pyc", compiled)):
        runs = ", ".join(f"{ms:.0f}" for ms in api.runs_ms)
        print(f"    {label:<24}{api.ms:>8.0f} ms   (runs: {runs} ms)")
    unwanted = sorted(set(shipped.unwanted) | set(compiled.unwanted))
    print(f"    {'imported of ' + '/'.join(UNWANTED_IN_API):<48}{', '.join(unwanted) or 'none'}")
    print(f"    goal <= {API_IMPORT_BAR_MS} ms with .pyc, none of them: {met(shipped.ms <= API_IMPORT_BAR_MS and not unwanted)}")
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

    from ferry.core import collector
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
        while True:
            with collector.paused():  # as the worker reads a batch (plan) and validates and writes it (run_chunk)
                batch = list(islice(records, CHUNK_ROWS))
                if not batch:
                    break
                rows = [csv_table.row_of(cells, layout) for cells in batch]
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
    with tempfile.TemporaryDirectory() as tmp, LocalStack(state_dir=Path(tmp), keys={TENANT: key}, fire_schedules=False, log_requests=False, parameter_overrides=QUIET) as stack:
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
    print(f"    {'in process: read + rows + validate + write':<42}{CSV_ROWS / pipeline:>10,.0f} rows/s  ({pipeline:.2f} s)")
    if floor is None:
        print("    pandas.read_csv floor: pandas is not installed (pip install -r requirements-dev.txt)")
    else:
        print(f"    {'floor: pandas.read_csv alone':<42}{CSV_ROWS / floor:>10,.0f} rows/s  ({floor:.2f} s)")
        print(f"    {'ratio to the floor':<42}{floor / pipeline:>10.2f}   {goal(floor / pipeline, 0.4)}")
    wall, outcome, peak = csv_through_the_local_stack(content)
    print(f"    {'through the local stack (/uploads, PUT, job)':<42}{CSV_ROWS / wall:>10,.0f} rows/s  ({wall:.1f} s wall, {outcome})")
    print(f"    {'worker peak memory':<42}{peak:>10.0f} MB   goal < {WORKER_MEMORY_BAR_MB} MB: {met(0 < peak < WORKER_MEMORY_BAR_MB)}")
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
    with LocalStack(state_dir=path.parent, keys={TENANT: key}, fire_schedules=False, log_requests=False, parameter_overrides=QUIET) as stack:
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
        print(f"    {'in process: read values + CSV + zip':<42}{EXPORT_ROWS / pipeline:>10,.0f} rows/s  {csv_bytes / 1e6 / pipeline:>6.1f} MB/s of CSV ({pipeline:.1f} s)")
        if floor is None:
            print("    floor: pyarrow is not installed (pip install -r requirements-dev.txt)")
        else:
            print(f"    {'floor: pyarrow CSV writer + zip':<42}{EXPORT_ROWS / floor:>10,.0f} rows/s  {csv_bytes / 1e6 / floor:>6.1f} MB/s of CSV ({floor:.1f} s)")
            print(f"    {'ratio to the floor':<42}{floor / pipeline:>10.2f}   goal >= 0.5: {met(floor / pipeline >= 0.5)}")
        wall, outcome, peak = export_through_the_local_stack(path)
        print(f"    {'through the local stack (POST /jobs)':<42}{EXPORT_ROWS / wall:>10,.0f} rows/s  ({wall:.1f} s wall, {outcome})")
        print(f"    {'worker peak memory':<42}{peak:>10.0f} MB   goal < {WORKER_MEMORY_BAR_MB} MB: {met(0 < peak < WORKER_MEMORY_BAR_MB)}")
    print()


# --- (e) a million rows through the local stack, and what they cost ---------------------------

SCALE_ROWS = 1_000_000
# List prices, us-east-1, as published in November 2026 (USD).
LAMBDA_GB_S = 0.0000133334  # arm64, per GB-second (the worker's architecture)
LAMBDA_REQUEST = 0.20 / 1e6
STATE_TRANSITION = 0.025 / 1000  # Standard workflows
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # on-demand, per write request unit (1 KB)
S3_WRITE_REQUEST = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_READ_REQUEST = 0.0004 / 1000  # GET and the rest
_DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_S3_WRITES = {"PUT", "POST"}


def customers_json(rows: int) -> bytes:
    """One JSON array of rows, as a user uploads it, built a chunk at a time."""
    parts = [json.dumps([customer(n) for n in range(start, min(start + CHUNK_ROWS, rows))], ensure_ascii=False)[1:-1] for start in range(0, rows, CHUNK_ROWS)]
    return ("[" + ",".join(parts) + "]").encode()


def import_in_process(content: bytes) -> float:
    """Seconds of the worker's own steps for the file (plan, every chunk, finish) on in-memory jobs and files and SQLite."""
    from ferry.core.ids import new_ulid
    from ferry.imports.runner import ChunkRef, ImportRunner
    from ferry.imports.sources.url import FetchPolicy
    from ferry.jobs.files import input_key
    from ferry.jobs.lifecycle import Lifecycle
    from ferry.jobs.model import Job, JobStatus
    from ferry.store.sqlite import SqliteEntityStore
    from ferry.testing import InMemoryFiles, InMemoryJobs, InMemoryLeases, RecordingEvents, StillClock

    clock = StillClock()
    jobs, files = InMemoryJobs(clock), InMemoryFiles()
    job_id = new_ulid()
    job = Job(
        id=job_id, tenant=TENANT, type="import_json", status=JobStatus.PENDING,
        args={"dataType": "Customers", "actionType": "CreateOrUpdate"}, created_at=clock.now(), updated_at=clock.now(),
        input_key=input_key(TENANT, job_id),
    )
    files.put(job.input_key, content)
    jobs.create(job)
    lifecycle = Lifecycle(jobs, files, RecordingEvents(), InMemoryLeases(clock), clock)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteEntityStore(str(Path(tmp) / "entities.sqlite3"))
        runner = ImportRunner(jobs, files, store, lifecycle, clock, CHUNK_ROWS, FetchPolicy(max_bytes=1 << 20, timeout_s=5))
        started = time.perf_counter()
        lifecycle.start(TENANT, job_id)
        for item in json.loads(files.get(runner.plan(TENANT, job_id))):
            runner.run_chunk(TENANT, job_id, ChunkRef(**item))
        status = runner.finish(TENANT, job_id)
        seconds = time.perf_counter() - started
        store.close()
    if status is not JobStatus.FINISHED:
        raise RuntimeError(f"the in-process import ended {status.value}")
    return seconds


@dataclass
class StackRun:
    wall: float
    outcome: str
    peak_mb: float
    memory_mb: int  # the worker's MemorySize in template.yaml
    worker_seconds: list[float]
    requests: dict[tuple[str, str], int]
    transitions: int
    job_item_kb: float


def import_through_the_local_stack(content: bytes) -> StackRun:
    import secrets
    import urllib.request

    from ferry_local.stack import LocalStack
    from tests.e2e.client import FerryClient

    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as tmp, LocalStack(state_dir=Path(tmp), keys={TENANT: key}, fire_schedules=False, log_requests=False, parameter_overrides=QUIET) as stack:
        client = FerryClient(stack.url, key)
        before = stack.aws_requests()
        started = time.perf_counter()
        grant = client.post("/uploads", {"name": "customers.json", "mime_type": "application/json"}).json()
        urllib.request.urlopen(urllib.request.Request(grant["url"], data=content, method="PUT", headers=grant["headers"]), timeout=600).close()
        body = {
            "type": "import_json",
            "args": {"dataType": "Customers", "actionType": "CreateOrUpdate"},
            "attachment": {"name": "customers.json", "mime_type": "application/json", "file": grant["file"]},
        }
        job = client.wait(client.post("/jobs", body).json()["id"], timeout=3600)
        wall = time.perf_counter() - started
        after = stack.aws_requests()
        requests = {kind: count - before.get(kind, 0) for kind, count in after.items() if count > before.get(kind, 0)}
        # The Map's child executions do not show in moto's history: each enters one state (RunChunk).
        transitions = _states_entered(stack) + -(-SCALE_ROWS // stack.chunk_rows)
        item = stack.session.client("dynamodb").scan(TableName=stack.stack.physical("JobsTable"))["Items"]
        item_kb = max(len(json.dumps(i)) for i in item) / 1024
        return StackRun(
            wall, f"{job['status']}, {job['progress']['succeeded']:,} rows", stack.peak_memory_mb("WorkerFunction"),
            stack.stack.function("WorkerFunction").memory_mb, stack.invocation_seconds("WorkerFunction"), requests, transitions, item_kb,
        )


def _states_entered(stack: Any) -> int:
    """States the stack's executions entered, as their histories show them."""
    sfn = stack.session.client("stepfunctions")
    entered = 0
    for machine in sfn.list_state_machines()["stateMachines"]:
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
            events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
            entered += sum(1 for e in events if e["type"].endswith("StateEntered"))
    return entered


def report_import_at_scale() -> None:
    content = customers_json(SCALE_ROWS)
    print(f"(e) A JSON file of {SCALE_ROWS:,} Customers rows ({len(content) / 1e6:.0f} MB), CreateOrUpdate, uploaded and imported")
    in_process = import_in_process(content)
    print(f"    {'in process: plan + every chunk + finish':<42}{SCALE_ROWS / in_process:>10,.0f} rows/s  ({in_process:.1f} s; in-memory jobs and files)")
    run = import_through_the_local_stack(content)
    print(f"    {'through the local stack (/uploads, PUT, job)':<42}{SCALE_ROWS / run.wall:>10,.0f} rows/s  ({run.wall:.1f} s wall, {run.outcome})")
    print(f"    {'worker peak memory':<42}{run.peak_mb:>10.0f} MB   goal < {WORKER_MEMORY_BAR_MB} MB: {met(0 < run.peak_mb < WORKER_MEMORY_BAR_MB)}")
    writes = sum(n for (service, op), n in run.requests.items() if service == "dynamodb" and op in _DYNAMODB_WRITES)
    # Each write counted at the job item's final size (it only grows): an upper bound of the write units.
    write_units = writes * max(1, math.ceil(run.job_item_kb))
    s3_writes = sum(n for (service, op), n in run.requests.items() if service == "s3" and op in _S3_WRITES)
    s3_reads = sum(n for (service, op), n in run.requests.items() if service == "s3" and op not in _S3_WRITES)
    others = [
        ("Step Functions (Standard)", f"{run.transitions} state transitions", run.transitions * STATE_TRANSITION),
        ("DynamoDB writes (on demand)", f"{writes} writes of job items (<= {run.job_item_kb:.1f} KB): {write_units} WRU", write_units * DYNAMODB_WRITE_UNIT),
        ("S3 requests", f"{s3_writes} PUT/POST, {s3_reads} GET/HEAD", s3_writes * S3_WRITE_REQUEST + s3_reads * S3_READ_REQUEST),
    ]
    worker_s = sum(run.worker_seconds)
    print("    cost at list prices (us-east-1, USD), from this run's durations and requests:")
    per_million: dict[int, float] = {}
    for memory_mb in sorted({run.memory_mb, 1024}, reverse=True):
        gb_s = worker_s * memory_mb / 1024
        worker = gb_s * LAMBDA_GB_S + len(run.worker_seconds) * LAMBDA_REQUEST
        print(f"      {f'Lambda, worker at {memory_mb} MB (arm64)':<36}${worker:.5f}  ({gb_s:,.0f} GB-s in {len(run.worker_seconds)} invocations)")
        per_million[memory_mb] = (worker + sum(dollars for _, _, dollars in others)) * 1e6 / SCALE_ROWS
    for label, detail, dollars in others:
        print(f"      {label:<36}${dollars:.5f}  ({detail})")
    figures = ", ".join(f"${dollars:.4f} at {memory_mb} MB" for memory_mb, dollars in per_million.items())
    print(f"    {'cost per million rows':<42}{figures};  goal < $0.01 at {run.memory_mb} MB: {met(per_million[run.memory_mb] < 0.01)}")
    print("    (local durations run 4 chunks at once on this machine's CPUs, so Lambda would bill less; S3 storage, the API's")
    print("    own calls, the client's polling and data transfer are left out)")
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
    report_import_at_scale()
    print("Figures are measured, not asserted: the bench exits 0 whatever the goals say.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
