"""File imports through the local stack: CSV and zip attachments inline, by upload and by URL; seed 002's /api/jobs."""
from __future__ import annotations

import base64
import csv
import io
import json
import threading
import time
import urllib.request
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ferry.store.port import Collection
from tests.e2e.conftest import E2E_CHUNK_ROWS

pytestmark = pytest.mark.e2e

HEADER = [
    "vendorId", "name", "taxNumber", "location.countryId", "location.addressLine", "location.settlement",
    "location.geoCoordinate.latitude", "location.geoCoordinate.longitude",
]


def customers_csv(rows: range, delimiter: str = ",", bad: frozenset[int] = frozenset(), encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    for n in rows:
        latitude = "not a number" if n in bad else f"{45 + n / 10_000:.4f}"
        writer.writerow([f"F{n:07d}", f"Caffè Zoë {n}", f"{200000000 + n}", "ITA", f"Via Roma {n}", "Pisa", latitude, "10.4"])
    return out.getvalue().encode(encoding)


def job_body(kind: str, file: str, args: dict | None = None, name: str = "customers.csv", mime: str = "text/csv") -> dict:
    return {
        "type": kind,
        "args": {"dataType": "Customers", "actionType": "CreateOrUpdate"} if args is None else args,
        "attachment": {"name": name, "mime_type": mime, "file": file},
    }


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


class FileServer:
    """A loopback HTTP server that serves files and records every request it gets."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, headers, body = server.routes.get(self.path, (404, {}, b"no such file"))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def file_server():
    with FileServer() as server:
        yield server


def test_the_seed_002_payload_creates_a_job_answered_with_exactly_the_seeds_fields(fresh, entities):
    body = job_body("import_csv", b64(customers_csv(range(20))))
    answer = fresh.client.post("/api/jobs", body)
    assert answer.status == 201, answer.body
    created = answer.json()
    assert set(created) == {
        "attachment", "id", "type", "status", "args", "output", "running_output",
        "started_at", "terminated_at", "created_at", "updated_at",
    }
    assert created["attachment"] == {"name": "customers.csv", "mime_type": "text/csv"}
    assert created["status"] == "pending" and answer.headers["location"] == f"/api/jobs/{created['id']}"
    fresh.client.wait(created["id"])
    job = fresh.client.get(f"/api/jobs/{created['id']}").json()
    assert set(job) == set(created) and job["status"] == "finished"
    assert job["output"].startswith("20 of 20 Customers rows imported") and job["terminated_at"]
    stored = entities.get(Collection(fresh.tenant, "Customers"), ["F0000003"])["F0000003"]
    assert stored["name"] == "Caffè Zoë 3"
    assert stored["location"] == {"countryId": "ITA", "addressLine": "Via Roma 3", "settlement": "Pisa", "geoCoordinate": {"latitude": 45.0003, "longitude": 10.4}}
    listed = fresh.client.get("/api/jobs").json()["items"]
    assert [j["id"] for j in listed] == [created["id"]] and set(listed[0]) == set(created)
    assert fresh.client.delete(f"/api/jobs/{created['id']}").status == 409  # it has ended


def test_a_latin1_semicolon_csv_with_three_bad_rows_reports_exactly_them_ready_to_fix(fresh, entities):
    bad = frozenset({10, 500, 998})
    content = customers_csv(range(1000), delimiter=";", bad=bad, encoding="latin-1")
    job = fresh.client.wait(fresh.client.post("/jobs", job_body("import_csv", b64(content))).json()["id"])
    assert job["status"] == "finished", job
    assert (job["progress"]["succeeded"], job["progress"]["failed"]) == (997, 3)
    assert entities.count(Collection(fresh.tenant, "Customers")) == 997
    report = fresh.client.get(f"/jobs/{job['id']}/errors").body.decode("utf-8")
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == [*HEADER, "error_row", "error_field", "error_code", "error_message"]
    assert [line[0] for line in lines[1:]] == [f"F{n:07d}" for n in sorted(bad)]
    assert [line[1] for line in lines[1:]] == [f"Caffè Zoë {n}" for n in sorted(bad)]  # decoded from Latin-1
    assert {line[HEADER.index("location.geoCoordinate.latitude")] for line in lines[1:]} == {"not a number"}
    assert [line[len(HEADER)] for line in lines[1:]] == [str(n + 1) for n in sorted(bad)]
    assert {line[len(HEADER) + 1] for line in lines[1:]} == {"location.geoCoordinate.latitude"}
    # Fixed and imported again, the report's rows are taken; its error columns are ignored, and said so.
    fixed = report.replace("not a number", "44.1").encode("utf-8")
    again = fresh.client.wait(fresh.client.post("/jobs", job_body("import_csv", b64(fixed))).json()["id"])
    assert again["status"] == "finished" and again["progress"]["succeeded"] == 3
    assert "error_row" in again["output"]
    assert entities.count(Collection(fresh.tenant, "Customers")) == 1000


def test_a_large_file_goes_through_an_upload_and_its_progress_moves(fresh, local_stack, entities):
    content = customers_csv(range(20 * E2E_CHUNK_ROWS))
    upload = fresh.client.post("/uploads", {"name": "customers.csv", "mime_type": "text/csv"})
    assert upload.status == 201, upload.body
    grant = upload.json()
    put = urllib.request.Request(grant["url"], data=content, method="PUT", headers=grant["headers"])
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
    local_stack.slow_down("run_chunk", times=20, seconds=0.3)
    created = fresh.client.post("/jobs", job_body("import_csv", grant["file"]))
    assert created.status == 201, created.body
    assert created.json()["attachment"]["size"] == len(content)
    seen: set[float] = set()
    deadline = time.monotonic() + 120
    while (job := fresh.client.get(f"/jobs/{created.json()['id']}").json())["status"] not in ("finished", "failed"):
        seen.add(job["progress"]["percent"])
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "finished" and job["progress"]["succeeded"] == 20 * E2E_CHUNK_ROWS
    assert any(0 < p < 100 for p in seen), seen
    assert entities.count(Collection(fresh.tenant, "Customers")) == 20 * E2E_CHUNK_ROWS


def test_a_missing_upload_is_refused_and_nothing_stored(fresh):
    for upload in (uuid.uuid4().hex, ""):
        answer = fresh.client.post("/jobs", job_body("import_csv", f"upload:{upload}"))
        assert answer.status == 422 and answer.json()["errors"][0]["pointer"] == "/attachment/file"
        assert "uploads/" not in answer.body.decode(), "the bucket's own layout is not the client's business"
    assert fresh.client.get("/jobs").json()["items"] == []


def test_a_columns_option_naming_no_field_is_refused_at_once_and_nothing_stored(fresh):
    content = base64.b64encode(b"Codice,Nome\r\nC1,A\r\n").decode()
    args = {"dataType": "Customers", "actionType": "CreateOrUpdate", "columns": {"Codice": "vendorId", "Nome": "nickname"}}
    answer = fresh.client.post("/jobs", job_body("import_csv", content, args=args))
    assert answer.status == 422 and [e["pointer"] for e in answer.json()["errors"]] == ["/args/columns/Nome"], answer.body
    assert "nickname" in answer.json()["detail"] and fresh.client.get("/jobs").json()["items"] == []
    # An empty header name: refused too (stored, it made the job's item unreadable on the local stack).
    answer = fresh.client.post("/jobs", job_body("import_csv", content, args={**args, "columns": {"": "name"}}))
    assert answer.status == 422 and [e["pointer"] for e in answer.json()["errors"]] == ["/args/columns/"], answer.body
    assert fresh.client.get("/jobs").json()["items"] == []


def test_a_media_type_that_would_break_a_header_line_is_refused_naming_it(fresh):
    injected = "text/csv\r\nX-Evil: 1"
    for mime_type in (injected, "text/csv\r\n; x=1"):
        answer = fresh.client.post("/uploads", {"name": "x.csv", "mime_type": mime_type})
        assert answer.status == 422 and answer.json()["errors"][0]["pointer"] == "/mime_type", answer.body
    body = job_body("import_csv", base64.b64encode(b"vendorId,name\r\nC1,A\r\n").decode())
    answer = fresh.client.post("/jobs", {**body, "attachment": {**body["attachment"], "mime_type": injected}})
    assert answer.status == 422 and answer.json()["errors"][0]["pointer"] == "/attachment/mime_type", answer.body
    assert fresh.client.post("/uploads", {"name": "x.csv", "mime_type": "text/csv; charset=utf-8"}).status == 201
    assert fresh.client.get("/jobs").json()["items"] == []


def test_an_url_attachment_is_downloaded_by_the_worker(fresh, file_server, entities):
    file_server.routes["/exports/customers.csv"] = (200, {"Content-Type": "text/csv"}, customers_csv(range(50)))
    url = f"http://localhost:{file_server.port}/exports/customers.csv"
    created = fresh.client.post("/jobs", job_body("import_csv", url))
    assert created.status == 201 and created.json()["attachment"]["url"] == url
    assert file_server.requests == []  # the request does not wait on someone else's server
    job = fresh.client.wait(created.json()["id"])
    assert job["status"] == "finished" and job["progress"]["succeeded"] == 50
    assert job["attachment"]["size"] == len(customers_csv(range(50))) and len(job["attachment"]["sha256"]) == 64
    assert file_server.requests == ["/exports/customers.csv"]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("http://127.0.0.1:{port}/secret.csv", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/customers.csv", "private"),
        ("http://localhost:{port}/redirect-to-loopback", "redirected"),
        ("http://localhost:{port}/redirect-to-metadata", "redirected"),
    ],
)
def test_an_url_to_a_private_address_fails_the_job_and_nothing_is_fetched(fresh, file_server, where, reason):
    port = file_server.port
    file_server.routes["/redirect-to-loopback"] = (302, {"Location": f"http://127.0.0.1:{port}/secret.csv"}, b"")
    file_server.routes["/redirect-to-metadata"] = (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    file_server.routes["/secret.csv"] = (200, {}, customers_csv(range(3)))
    job = fresh.client.wait(fresh.client.post("/jobs", job_body("import_csv", where.format(port=port))).json()["id"])
    assert job["status"] == "failed"
    assert job["output"].startswith("The plan step failed: FetchRefused: ") and reason in job["output"], job["output"]
    assert "/secret.csv" not in file_server.requests
    assert job["progress"]["processed"] == 0


@pytest.mark.parametrize("path", ["/jobs", "/api/jobs"])
def test_an_url_with_a_password_is_refused_at_once_and_neither_stored_nor_shown(fresh, file_server, path):
    where = f"http://bob:hunter2@localhost:{file_server.port}/exports/customers.csv"
    answer = fresh.client.post(path, job_body("import_csv", where))
    assert answer.status == 422 and answer.headers["content-type"] == "application/problem+json", answer.body
    assert answer.json()["errors"] == [{"pointer": "/attachment/file", "detail": "no user name or password in the URL"}]
    assert b"hunter2" not in answer.body
    assert fresh.client.get("/jobs").json()["items"] == [] and file_server.requests == []


def test_a_zip_holding_one_csv_is_read_and_other_zips_are_refused(fresh):
    one = io.BytesIO()
    with zipfile.ZipFile(one, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("customers.csv", customers_csv(range(30)))
    job = fresh.client.wait(fresh.client.post("/jobs", job_body("import_csv", b64(one.getvalue()), name="c.zip", mime="application/zip")).json()["id"])
    assert job["status"] == "finished" and job["progress"]["succeeded"] == 30
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", customers_csv(range(2)))
        archive.writestr("b.csv", customers_csv(range(2)))
    job = fresh.client.wait(fresh.client.post("/jobs", job_body("import_csv", b64(two.getvalue()), name="c.zip", mime="application/zip")).json()["id"])
    assert job["status"] == "failed" and "The plan step failed: UnreadableInput: " in job["output"], job["output"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (bytes(range(256)) * 10, "binary"),
        (b"\r\n\r\n", "empty"),
        (b"just,some,words\r\nand,more,words\r\n", "header"),
    ],
)
def test_a_file_that_cannot_be_read_fails_the_job_at_once_with_the_reason(fresh, content, reason):
    job = fresh.client.wait(fresh.client.post("/jobs", job_body("import_csv", b64(content))).json()["id"])
    assert job["status"] == "failed" and reason in job["output"].lower(), job["output"]
    assert job["progress"]["processed"] == 0


def test_an_operator_starts_an_import_from_the_step_functions_console(local_stack, fresh, entities):
    sfn = local_stack.session.client("stepfunctions")
    console_input = {
        "kind": "import_json",
        "tenant": fresh.tenant,
        "args": {"dataType": "Customers", "actionType": "CreateOrUpdate"},
        "input": [{"vendorId": "CONSOLE-1", "name": "From the console"}],
    }
    sfn.start_execution(stateMachineArn=local_stack.stack.arn("ImportStateMachine"), name=f"console-{uuid.uuid4()}", input=json.dumps(console_input))
    deadline = time.monotonic() + 60
    while not (items := fresh.client.get("/jobs").json()["items"]):
        assert time.monotonic() < deadline, "the console run made no job"
        time.sleep(0.1)
    job = fresh.client.wait(items[0]["id"])
    assert job["status"] == "finished" and job["type"] == "import_json" and job["progress"]["succeeded"] == 1
    assert entities.get(Collection(fresh.tenant, "Customers"), ["CONSOLE-1"])["CONSOLE-1"]["name"] == "From the console"


def test_dovuti_of_a_municipality_are_imported_from_their_italian_csv(fresh, entities):
    content = (
        "IUV;Codice Fiscale;Anagrafica;Importo;Data Scadenza;Causale;Codice Servizio\r\n"
        "RF18000000000000001;RSSMRA85T10A562S;Mario Rossi;1.234,56;31/01/2027;TARI 2026 rata 1;TARI\r\n"
        "301000000000000017;01234567897;Bar Centrale srl;80;2027-02-28;Occupazione suolo;COSAP\r\n"
        "RF18000000000000003;RSSMRA85T10A562X;Luigi Bianchi;12,5;31/02/2027;Mensa;MENSA\r\n"
    ).encode("cp1252")
    body = {"type": "import_dovuti", "args": {}, "attachment": {"name": "dovuti.csv", "mime_type": "text/csv", "file": b64(content)}}
    answer = fresh.client.post("/api/jobs", body)
    assert answer.status == 201, answer.body
    job = fresh.client.wait(answer.json()["id"])
    assert job["status"] == "finished" and (job["progress"]["succeeded"], job["progress"]["failed"]) == (2, 1)
    fields = {e["field"] for e in job["errors"]}
    assert fields == {"codice_fiscale", "data_scadenza"}, job["errors"]
    stored = entities.get(Collection(fresh.tenant, "Dovuti"), ["RF18000000000000001", "301000000000000017"])
    assert stored["RF18000000000000001"]["importo"] == 1234.56 and stored["RF18000000000000001"]["data_scadenza"] == "2027-01-31"
    assert stored["301000000000000017"]["codice_fiscale"] == "01234567897"
