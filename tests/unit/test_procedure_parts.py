"""The parts of seed 000's procedures on fakes: images, geocoding, agents' packages, ImportFiles.

Images come from a real HTTP server on 127.0.0.1 that records what reaches it, through
the real SSRF-guarded fetch; the business data is in SQLite; files are in memory; the
SFTP servers ImportFiles copies from are fakes (the real adapter's fetch is tested
against a real server in tests/integration/test_sftp_source.py).
"""
from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from ferry.aws.location_geocoder import LocationGeocoder
from ferry.core.errors import InvalidRequest, NotFound
from ferry.destinations.port import DestinationFailed
from ferry.imports.sources.url import FetchPolicy
from ferry.procedures.catalogue import RunContext
from ferry.procedures.gazetteer import Gazetteer
from ferry.procedures.geocoding import GeocodeAddresses
from ferry.procedures import images
from ferry.procedures.images import DownloadItemsImages, image_key, manifest_key
from ferry.procedures.import_files import ImportFiles
from ferry.procedures.sync_packages import SettingsSyncDataCreation, SyncDataCreation, package_key
from ferry.procedures.sync_packages import manifest_key as sync_manifest_key
from ferry.store.port import Action, Collection, WriteRow
from ferry.store.sqlite import SqliteEntityStore
from ferry.testing import InMemoryFiles, StillClock
from ferry.tenants.settings import TenantSettings

TENANT = "t1"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(40))
NOW = "2026-11-22T03:00:00.000Z"


def run(job_id: str = "job-1") -> RunContext:
    return RunContext(TENANT, job_id, {}, lambda _text: None)


def put(store: SqliteEntityStore, data_type: str, docs: list[dict[str, Any]], key: str = "code") -> None:
    rows = [WriteRow(i, str(doc[key]), doc) for i, doc in enumerate(docs)]
    store.write_batch(Collection(TENANT, data_type), Action.CREATE_OR_UPDATE, rows, writer="load", now=NOW)


@pytest.fixture
def store(tmp_path) -> Iterator[SqliteEntityStore]:
    entities = SqliteEntityStore(str(tmp_path / "entities.sqlite3"))
    yield entities
    entities.close()


class CountingFiles(InMemoryFiles):
    def __init__(self) -> None:
        super().__init__()
        self.puts: list[str] = []

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.puts.append(key)
        super().put(key, body, content_type)


# --- DownloadItemsImages ---------------------------------------------------------------


@dataclass
class Image:
    body: bytes
    content_type: str
    etag: str | None = None


@dataclass
class ImageServer:
    port: int
    images: dict[str, Image] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, If-None-Match)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        record: ImageServer = self.server.record  # type: ignore[attr-defined]
        record.requests.append((self.path, self.headers["If-None-Match"]))
        image = record.images.get(self.path)
        if image is None:
            self.send_error(404)
            return
        if image.etag is not None and self.headers["If-None-Match"] == image.etag:
            self.send_response(304)
            self.send_header("ETag", image.etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", image.content_type)
        self.send_header("Content-Length", str(len(image.body)))
        if image.etag is not None:
            self.send_header("ETag", image.etag)
        self.end_headers()
        self.wfile.write(image.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keeps the test output quiet


@pytest.fixture
def server() -> Iterator[ImageServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.record = ImageServer(httpd.server_address[1])  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.record  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def downloader(store: SqliteEntityStore, files: InMemoryFiles) -> DownloadItemsImages:
    policy = FetchPolicy(max_bytes=1_000_000_000, timeout_s=10.0, allowed_hosts=frozenset({"127.0.0.1"}))
    return DownloadItemsImages(store, files, policy, concurrency=3)


def test_images_are_stored_with_their_type_and_bad_ones_are_problems(store, server):
    server.images = {
        "/a.png": Image(PNG, "image/png", etag='"a1"'),
        "/b.jpg": Image(JPEG, "image/jpeg; charset=binary"),
        "/page.html": Image(b"<html></html>", "text/html"),
        "/fake.png": Image(b"<html></html>", "image/png"),
    }
    put(store, "Items", [
        {"code": "A", "imageUrl": server.url("/a.png")},
        {"code": "B/1", "imageUrl": server.url("/b.jpg")},
        {"code": "C", "imageUrl": server.url("/page.html")},
        {"code": "D", "imageUrl": server.url("/fake.png")},
        {"code": "E", "imageUrl": server.url("/a.png", host="localhost")},  # the same server, by a name not trusted
        {"code": "F", "imageUrl": server.url("/missing.png")},
        {"code": "G"},
        {"code": "H", "imageUrl": None},
    ])
    files = CountingFiles()

    outcome = downloader(store, files)(run())

    assert outcome.counts == {"downloaded": 2, "unchanged": 0, "failed": 4}
    assert files.files[image_key(TENANT, "A")] == (PNG, "image/png")
    assert files.files[image_key(TENANT, "B/1")] == (JPEG, "image/jpeg")
    assert image_key(TENANT, "B/1") == "images/t1/B%2F1"
    problems = sorted(outcome.problems)
    assert problems[0].startswith("Item C: the server sent 'text/html'")
    assert problems[1] == "Item D: the file is not the image/png image its Content-Type says"
    assert problems[2].startswith("Item E: the URL's host localhost resolves to") and "loopback address: refused" in problems[2]
    assert problems[3] == "Item F: 127.0.0.1 answered 404 Not Found instead of the file"
    assert ("/a.png", None) in server.requests and len(server.requests) == 5  # E never reached the server
    manifest = json.loads(files.get(manifest_key(TENANT)))
    assert set(manifest) == {"A", "B/1"}
    assert manifest["A"]["etag"] == '"a1"' and manifest["A"]["contentType"] == "image/png"


def test_the_running_output_counts_the_items_as_each_one_ends(store, server, monkeypatch):
    monkeypatch.setattr(images, "_REPORT_EVERY_S", 0.0)  # every item's end reported, not one a second
    server.images = {"/a.png": Image(PNG, "image/png")}
    put(store, "Items", [{"code": f"I{n}", "imageUrl": server.url("/a.png" if n % 3 else "/missing.png")} for n in range(7)])
    reports: list[str] = []

    downloader(store, CountingFiles())(RunContext(TENANT, "job-1", {}, reports.append))

    assert reports[0] == "0 of 7 items, 0 failed"
    assert [int(text.split()[0]) for text in reports[1:8]] == [1, 2, 3, 4, 5, 6, 7]
    assert reports[-1] == "7 of 7 items, 3 failed"


def test_an_unchanged_image_is_not_downloaded_or_written_again(store, server):
    server.images = {"/a.png": Image(PNG, "image/png", etag='"a1"'), "/b.jpg": Image(JPEG, "image/jpeg")}
    put(store, "Items", [{"code": "A", "imageUrl": server.url("/a.png")}, {"code": "B", "imageUrl": server.url("/b.jpg")}])
    files = CountingFiles()
    part = downloader(store, files)
    part(run())
    server.requests.clear()
    files.puts.clear()

    outcome = part(run("job-2"))

    assert outcome.counts == {"downloaded": 0, "unchanged": 2, "failed": 0}
    # A was asked conditionally and answered 304; B (no validators) came again but was the same file.
    assert sorted(server.requests) == [("/a.png", '"a1"'), ("/b.jpg", None)]
    assert files.puts == []

    server.images["/a.png"] = Image(PNG + b"changed", "image/png", etag='"a2"')
    outcome = part(run("job-3"))

    assert outcome.counts == {"downloaded": 1, "unchanged": 1, "failed": 0}
    assert files.files[image_key(TENANT, "A")][0] == PNG + b"changed"
    assert json.loads(files.get(manifest_key(TENANT)))["A"]["etag"] == '"a2"'


def test_a_failed_image_keeps_its_earlier_one(store, server):
    server.images = {"/a.png": Image(PNG, "image/png", etag='"a1"')}
    put(store, "Items", [{"code": "A", "imageUrl": server.url("/a.png")}])
    files = CountingFiles()
    part = downloader(store, files)
    part(run())
    del server.images["/a.png"]

    outcome = part(run("job-2"))

    assert outcome.counts["failed"] == 1
    assert files.files[image_key(TENANT, "A")] == (PNG, "image/png")
    assert json.loads(files.get(manifest_key(TENANT)))["A"]["etag"] == '"a1"'


# --- GeocodeAddresses ------------------------------------------------------------------


class FakeGeocoder:
    PLACES = {"Milano": (45.46, 9.19), "Roma": (41.89, 12.51), "Torino": (45.07, 7.69)}

    def __init__(self) -> None:
        self.asked: list[str] = []

    def geocode(self, address):
        self.asked.append(address["city"])
        return self.PLACES.get(address["city"])


def test_addresses_are_geocoded_once_until_they_change(store):
    put(store, "Accounts", [
        {"code": "a1", "address": {"street": "Via Roma 1", "city": "Milano", "country": "IT"}},
        {"code": "a2", "address": {"city": "Roma", "country": "IT"}},
        {"code": "a3", "name": "No address"},
        {"code": "a4", "address": {"city": "Torino"}, "geoCoordinate": {"latitude": 45.0, "longitude": 7.0}},
        {"code": "a5", "address": {"city": "Vattelapesca"}},
    ])
    geocoder = FakeGeocoder()
    part = GeocodeAddresses(store, geocoder, StillClock())
    accounts = Collection(TENANT, "Accounts")

    outcome = part(run())

    assert sorted(geocoder.asked) == ["Milano", "Roma", "Vattelapesca"]
    assert outcome.counts == {"geocoded": 2, "unchanged": 0, "given": 1, "without_address": 1, "unplaced": 1}
    assert outcome.problems == ['Account a5: the address "Vattelapesca" could not be placed']
    stored = store.get(accounts, ["a1", "a4"])
    assert stored["a1"]["geoCoordinate"] == {"latitude": 45.46, "longitude": 9.19}
    assert stored["a4"]["geoCoordinate"] == {"latitude": 45.0, "longitude": 7.0}  # given with the address: kept

    put(store, "Accounts", [{"code": "a2", "address": {"city": "Torino", "country": "IT"}}, {"code": "a1", "name": "Renamed"}])
    geocoder.asked.clear()
    outcome = part(run("job-2"))

    assert geocoder.asked == ["Torino"]
    assert store.get(accounts, ["a2"])["a2"]["geoCoordinate"] == {"latitude": 45.07, "longitude": 7.69}
    assert outcome.counts["geocoded"] == 1 and outcome.counts["unchanged"] == 2
    assert outcome.problems == ['Account a5: the address "Vattelapesca" could not be placed']  # still told, not asked again


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ({"street": "Piazza del Duomo", "city": "Milano", "country": "IT"}, (45.46, 9.19)),
        ({"city": "Roma", "country": "Italy"}, (41.89, 12.51)),
        ({"city": "Torino", "country": "ITA"}, (45.07, 7.69)),
        ({"city": "firenze", "country": "Italia"}, (43.78, 11.25)),  # a country name it does not know: the city is only Italian
        ({"city": "Reggio nell'Emilia", "postalCode": "42121"}, (44.70, 10.63)),
        ({"city": "Forlì", "country": "IT"}, (44.22, 12.05)),
    ],
)
def test_the_gazetteer_places_italian_cities(gazetteer, address, expected):
    latitude, longitude = gazetteer.geocode(address)
    assert latitude == pytest.approx(expected[0], abs=0.02) and longitude == pytest.approx(expected[1], abs=0.02)


@pytest.mark.parametrize(
    "address",
    [{"city": "Vattelapesca", "country": "IT"}, {"street": "Via Roma 1", "country": "IT"}, {"city": "Paris"}],
    ids=["unknown town", "no city", "a name in several countries, no country"],
)
def test_the_gazetteer_leaves_unplaced_what_it_cannot_tell(gazetteer, address):
    assert gazetteer.geocode(address) is None


def test_the_location_geocoder_asks_for_stored_results_and_reads_longitude_first():
    client = boto3.client("geo-places", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(
        "geocode",
        {"PricingBucket": "b", "ResultItems": [{"PlaceId": "p", "PlaceType": "Locality", "Title": "Milano", "Position": [9.19, 45.46]}]},
        {"QueryText": "Via Roma 1, 20121, Milano, IT", "MaxResults": 1, "IntendedUse": "Storage", "Filter": {"IncludeCountries": ["IT"]}},
    )
    stubber.add_response("geocode", {"PricingBucket": "b", "ResultItems": []}, {"QueryText": "Nowhere, Italia", "MaxResults": 1, "IntendedUse": "Storage"})
    stubber.add_client_error("geocode", "ValidationException", "bad query")
    stubber.add_client_error("geocode", "ThrottlingException", "slow down")
    geocoder = LocationGeocoder(client)
    with stubber:
        assert geocoder.geocode({"street": "Via Roma 1", "postalCode": "20121", "city": "Milano", "country": "IT"}) == (45.46, 9.19)
        assert geocoder.geocode({"city": "Nowhere", "country": "Italia"}) is None
        assert geocoder.geocode({"city": "?"}) is None
        with pytest.raises(Exception, match="ThrottlingException"):
            geocoder.geocode({"city": "Milano"})


# --- SyncDataCreation / SettingsSyncDataCreation ---------------------------------------


def package(files: InMemoryFiles, agent: str, kind: str = "data") -> dict[str, Any]:
    body, content_type = files.files[package_key(TENANT, agent, kind)]
    assert content_type == "application/gzip"
    return json.loads(gzip.decompress(body))


def test_each_agent_gets_its_accounts_and_an_unchanged_agent_keeps_its_package(store):
    put(store, "Agents", [{"code": "ag1", "name": "Anna"}, {"code": "ag2", "name": "Bruno"}])
    put(store, "Accounts", [
        {"code": "c1", "agentCode": "ag1"}, {"code": "c2", "agentCode": "ag1"}, {"code": "c3", "agentCode": "ag2"}, {"code": "c4"},
    ])
    put(store, "Items", [{"code": "i1"}, {"code": "i2"}])
    put(store, "Prices", [{"itemCode": "i1", "priceList": "L1", "price": 2.5}], key="itemCode")
    files, clock = CountingFiles(), StillClock()
    settings = {"app": {"currency": "EUR"}}
    part = SyncDataCreation(store, files, clock, lambda tenant: settings)

    outcome = part(run())

    assert outcome.counts == {"built": 2, "unchanged": 0}
    first = package(files, "ag1")
    assert [a["code"] for a in first["accounts"]] == ["c1", "c2"]
    assert first["agent"] == {"code": "ag1", "name": "Anna"}
    assert [i["code"] for i in first["items"]] == ["i1", "i2"] and first["prices"][0]["price"] == 2.5
    assert first["settings"] == settings
    assert [a["code"] for a in package(files, "ag2")["accounts"]] == ["c3"]
    built = json.loads(files.get(sync_manifest_key(TENANT)))["agents"]
    assert built["ag1"]["data"]["key"] == "sync/t1/ag1/data.json.gz" and built["ag1"]["data"]["built_at"] == "2026-11-22T03:00:00.000Z"

    clock.advance(hours=1)
    files.puts.clear()
    put(store, "Accounts", [{"code": "c1", "agentCode": "ag1"}])  # written again, the same: not a change
    outcome = part(run("job-2"))

    assert outcome.counts == {"built": 0, "unchanged": 2}
    assert files.puts == []

    clock.advance(hours=1)
    put(store, "Accounts", [{"code": "c3", "name": "Bar Sport"}])
    outcome = part(run("job-3"))

    assert outcome.counts == {"built": 1, "unchanged": 1}
    assert files.puts == ["sync/t1/ag2/data.json.gz", sync_manifest_key(TENANT)]
    rebuilt = json.loads(files.get(sync_manifest_key(TENANT)))["agents"]
    assert rebuilt["ag1"] == built["ag1"]
    assert rebuilt["ag2"]["data"]["built_at"] == "2026-11-22T05:00:00.000Z"
    assert package(files, "ag2")["accounts"] == [{"code": "c3", "agentCode": "ag2", "name": "Bar Sport"}]


def test_the_settings_packages_share_the_manifest(store):
    put(store, "Agents", [{"code": "ag1"}])
    files, clock = CountingFiles(), StillClock()
    SyncDataCreation(store, files, clock, lambda tenant: {"a": 1})(run())
    clock.advance(hours=1)

    outcome = SettingsSyncDataCreation(store, files, clock, lambda tenant: {"a": 1})(run("job-2"))

    assert outcome.counts == {"built": 1, "unchanged": 0}
    assert package(files, "ag1", "settings") == {"agentCode": "ag1", "settings": {"a": 1}}
    entry = json.loads(files.get(sync_manifest_key(TENANT)))["agents"]["ag1"]
    assert entry["data"]["built_at"] == "2026-11-22T03:00:00.000Z"
    assert entry["settings"]["built_at"] == "2026-11-22T04:00:00.000Z"


# --- ImportFiles -----------------------------------------------------------------------


def test_import_files_submits_one_job_per_valid_entry():
    entries = [
        {"key": "uploads/t1/items.csv", "dataType": "Items", "actionType": "CreateOrUpdate", "delimiter": ";"},
        {"source": "s3", "key": "uploads/t1/dovuti.csv", "dataType": "Dovuti"},
        {"key": "uploads/t1/prices.json", "dataType": "Prices", "actionType": "CreateOrUpdate"},
        {"key": "uploads/t1/nothing.csv"},  # no data type
        {"source": "sftp", "key": "uploads/t1/x.csv", "dataType": "Items"},
        {"key": "uploads/t2/theirs.csv", "dataType": "Items"},  # another tenant's file
        {"key": "uploads/t1/gone.csv", "dataType": "Items"},
    ]
    submitted: list[tuple] = []

    def submit(tenant, kind, args, attachment_key, *, idempotency_key):
        if attachment_key.endswith("gone.csv"):
            raise NotFound("The attachment file is missing.")
        submitted.append((tenant, kind, args, attachment_key, idempotency_key))
        return f"job-{len(submitted)}"

    outcome = ImportFiles(lambda tenant: {"importFiles": entries}, submit, InMemoryFiles(), _no_destinations)(run())

    assert submitted == [
        ("t1", "import_csv", {"dataType": "Items", "actionType": "CreateOrUpdate", "delimiter": ";"}, "uploads/t1/items.csv", "job-1-import-files-0"),
        ("t1", "import_dovuti", {"actionType": "CreateOrUpdate"}, "uploads/t1/dovuti.csv", "job-1-import-files-1"),
        ("t1", "import_json", {"dataType": "Prices", "actionType": "CreateOrUpdate"}, "uploads/t1/prices.json", "job-1-import-files-2"),
    ]
    assert outcome.counts == {"submitted": 3, "refused": 4}
    assert "uploads/t1/items.csv -> import_csv job job-1" in outcome.summary
    assert [p.split(":")[0] for p in outcome.problems] == [f"importFiles[{i}]" for i in (3, 4, 5)] + ["importFiles[6] ('uploads/t1/gone.csv')"]
    assert "not in this tenant's files" in outcome.problems[2]


def _no_destinations(tenant: str, destination_id: str) -> Any:
    raise AssertionError("no entry names an sftp destination")


class FakeSftp:
    """An SFTP destination as ImportFiles sees it: a Source whose files are in memory."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.fetched: list[str] = []

    def fetch(self, path: str, sink: BinaryIO) -> int:
        self.fetched.append(path)
        if path not in self.files:
            raise DestinationFailed("permission", f"There is no file {path} on sftp.example.com:22.")
        sink.write(self.files[path])
        return len(self.files[path])


class FakeFtp:
    """A destination files cannot be taken from: it only puts, removes and checks."""

    def put(self, name: str, stream: BinaryIO) -> str:
        raise AssertionError("ImportFiles never writes to a destination")

    def remove(self, name: str) -> None:
        raise AssertionError("ImportFiles never writes to a destination")

    def check(self) -> None:
        raise AssertionError("ImportFiles never checks a destination")


def opener(destinations: dict[str, Any]) -> Any:
    def open_source(tenant: str, destination_id: str) -> Any:
        assert tenant == TENANT
        if destination_id not in destinations:
            raise NotFound(f"No destination {destination_id!r}.")
        return destinations[destination_id]

    return open_source


def recording_submit(submitted: list[tuple]) -> Any:
    def submit(tenant, kind, args, attachment_key, *, idempotency_key):
        submitted.append((kind, args, attachment_key, idempotency_key))
        return f"job-{len(submitted)}"

    return submit


def test_import_files_copies_an_sftp_entry_into_the_files_bucket_and_submits_that_key():
    sftp = FakeSftp({"/in/customers.csv": b"code;name\nC1;Ada\n", "prices.json": b"[]"})
    entries = [
        {"source": "sftp", "destinationId": "D1", "path": "/in/customers.csv", "dataType": "Customers", "delimiter": ";"},
        {"source": "sftp", "destinationId": "D1", "path": "prices.json", "dataType": "Prices", "actionType": "CreateOrUpdate"},
    ]
    files, submitted = InMemoryFiles(), []
    part = ImportFiles(lambda tenant: {"importFiles": entries}, recording_submit(submitted), files, opener({"D1": sftp}))

    outcome = part(run())

    assert submitted == [
        ("import_csv", {"dataType": "Customers", "actionType": "CreateOrUpdate", "delimiter": ";"}, "imports/t1/job-1/0-customers.csv", "job-1-import-files-0"),
        ("import_json", {"dataType": "Prices", "actionType": "CreateOrUpdate"}, "imports/t1/job-1/1-prices.json", "job-1-import-files-1"),
    ]
    assert files.get("imports/t1/job-1/0-customers.csv") == b"code;name\nC1;Ada\n"
    assert files.get("imports/t1/job-1/1-prices.json") == b"[]"
    assert outcome.counts == {"submitted": 2, "refused": 0} and outcome.problems == []
    assert "/in/customers.csv on destination D1 -> import_csv job job-1" in outcome.summary

    # A retried part submits the same keys again (the idempotency keys answer the jobs it
    # made) and takes the copies it made, not the server's file once more.
    part(run())

    assert sftp.fetched == ["/in/customers.csv", "prices.json"]
    assert submitted[2:] == [(kind, args, key, idempotency) for kind, args, key, idempotency in submitted[:2]]


def test_import_files_an_sftp_entry_that_cannot_be_fetched_is_a_problem_and_the_others_go_on():
    entries = [
        {"source": "sftp", "destinationId": "D1", "path": "/in/gone.csv", "dataType": "Items"},
        {"source": "sftp", "destinationId": "NOSUCH", "path": "/in/items.csv", "dataType": "Items"},
        {"source": "sftp", "destinationId": "FTP1", "path": "/in/items.csv", "dataType": "Items"},
        {"source": "sftp", "destinationId": "D1", "path": "/in/../etc/passwd", "dataType": "Items"},
        {"source": "ftp", "destinationId": "D1", "path": "/in/items.csv", "dataType": "Items"},
        {"source": "sftp", "destinationId": "D1", "path": "/in/items.csv", "dataType": "Items"},
    ]
    files, submitted = InMemoryFiles(), []
    sftp = FakeSftp({"/in/items.csv": b"code\nI1\n"})
    part = ImportFiles(lambda tenant: {"importFiles": entries}, recording_submit(submitted), files, opener({"D1": sftp, "FTP1": FakeFtp()}))

    outcome = part(run())

    assert [key for _, _, key, _ in submitted] == ["imports/t1/job-1/5-items.csv"]
    assert list(files.files) == ["imports/t1/job-1/5-items.csv"]
    assert outcome.counts == {"submitted": 1, "refused": 5}
    gone, unknown, ftp, dotdot, source = outcome.problems
    assert gone.startswith("importFiles[0] ('/in/gone.csv on destination D1'): permission: There is no file /in/gone.csv")
    assert unknown.startswith("importFiles[1]") and "No destination 'NOSUCH'" in unknown
    assert ftp.startswith("importFiles[2]") and "not an SFTP server" in ftp
    assert dotdot == "importFiles[3]: refused (sftp.path)"
    assert source == "importFiles[4]: refused (the entry)"
    assert sftp.fetched == ["/in/gone.csv", "/in/items.csv"]


def test_import_files_entries_in_the_settings_keep_the_s3_form_and_take_the_sftp_form():
    s3 = {"key": "uploads/t1/items.csv", "dataType": "Items"}
    sftp = {"source": "sftp", "destinationId": "01JD0000000000000000000000", "path": "/in//customers.csv", "dataType": "Customers"}

    saved = TenantSettings.model_validate({"importFiles": [s3, sftp]}).model_dump(mode="json")["importFiles"]

    assert saved == [
        {"source": "s3", "key": "uploads/t1/items.csv", "dataType": "Items", "actionType": "CreateOrUpdate", "delimiter": None},
        {"source": "sftp", "destinationId": "01JD0000000000000000000000", "path": "/in/customers.csv",
         "dataType": "Customers", "actionType": "CreateOrUpdate", "delimiter": None},
    ]
    for refused in [
        {**s3, "source": "sftp"},  # an sftp entry names a destination and a path, not a key
        {**sftp, "key": "uploads/t1/items.csv"},
        {**sftp, "path": "/in/"},  # a folder
        {**sftp, "destinationId": "../other"},
    ]:
        with pytest.raises(ValidationError):
            TenantSettings.model_validate({"importFiles": [refused]})


def test_import_files_entries_are_checked_when_saved_naming_the_field():
    from ferry.tenants.settings import Settings as SettingsStore
    from ferry.testing import InMemorySavedItems

    settings = SettingsStore(InMemorySavedItems())
    for entry, pointer in [
        ({"key": "uploads/t1/a.csv", "dataType": "Nope"}, "/importFiles/0/dataType"),
        ({"key": "uploads/t1/a.csv", "dataType": "Prices", "actionType": "Replace"}, "/importFiles/0/actionType"),
        ({"key": "../../other", "dataType": "Items"}, "/importFiles/0/key"),
        ({"key": "uploads/t2/theirs.csv", "dataType": "Items"}, "/importFiles/0/key"),  # another tenant's file
    ]:
        with pytest.raises(InvalidRequest) as refused:
            settings.put("t1", {"importFiles": [entry]})
        assert [e.pointer for e in refused.value.errors] == [pointer], entry
    assert settings.get("t1").importFiles == []  # nothing saved
    sftp_entry = {"source": "sftp", "path": "in/a.csv", "dataType": "Items"}
    store = settings._saved
    store.put("t1", "destination", "D1", {"id": "D1", "config": {"type": "sftp"}}, new=True)
    store.put("t1", "destination", "D2", {"id": "D2", "config": {"type": "s3"}}, new=True)
    store.put("t2", "destination", "D3", {"id": "D3", "config": {"type": "sftp"}}, new=True)
    for destination_id in ("nope", "D2", "D3"):  # none, an S3 one, another tenant's
        with pytest.raises(InvalidRequest) as refused:
            settings.put("t1", {"importFiles": [{**sftp_entry, "destinationId": destination_id}]})
        assert [e.pointer for e in refused.value.errors] == ["/importFiles/0/destinationId"], destination_id
    assert settings.put("t1", {"importFiles": [{**sftp_entry, "destinationId": "D1"}]}).importFiles[0].destinationId == "D1"
    saved = settings.put("t1", {"importFiles": [{"key": "uploads/t1/a.csv", "dataType": "items", "actionType": "createorupdate"}]})
    assert (saved.importFiles[0].dataType, saved.importFiles[0].actionType) == ("Items", "CreateOrUpdate")  # as the job kinds spell them


def test_items_added_while_images_are_fetched_never_show_more_done_than_there_are(store, server, monkeypatch):
    monkeypatch.setattr(images, "_REPORT_EVERY_S", 0.0)
    server.images = {"/a.png": Image(PNG, "image/png")}
    put(store, "Items", [{"code": f"I{n}", "imageUrl": server.url("/a.png")} for n in range(3)])
    counted = store.count
    # Counted at the start as 3; two more items are in the store by the time the pages are read.
    monkeypatch.setattr(store, "count", lambda *args: (counted(*args), put(store, "Items", [{"code": f"J{n}", "imageUrl": server.url("/a.png")} for n in range(2)]))[0])
    reports: list[str] = []

    downloader(store, CountingFiles())(RunContext(TENANT, "job-1", {}, reports.append))

    assert reports[-1] == "5 of 5 items, 0 failed"
    assert all(int(text.split()[0]) <= int(text.split()[2]) for text in reports), reports
