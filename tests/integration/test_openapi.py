"""The OpenAPI document is the contract in machine form (design/API.md): valid, and saying what the API really answers.

The document is built in a child interpreter that imports the API function with dummy
settings, as bench does: no local stack, and nothing of the API's import left in this process.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
SOURCE_PATHS = ["layers/ferry", "functions/api"]
API_ENV = {
    "FERRY_JOBS_TABLE": "jobs",
    "FERRY_API_KEYS_TABLE": "keys",
    "FERRY_FILES_BUCKET": "files",
    "FERRY_STATE_MACHINES": "import=arn:aws:states:us-east-1:123456789012:stateMachine:x",
    "FERRY_SQLITE_PATH": "/tmp/ferry-openapi-unused.sqlite3",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
}
# What the child prints: the document, then what the domain says the enums are.
_CHILD = """
import json
from ferry.datatypes.registry import REGISTRY, SEED_004
from ferry.jobs.kinds import load_kinds
from ferry.jobs.model import JobStatus
from ferry.store.port import Action
from ferry_api.app import app
from ferry_api.views.seed004 import import_status
print(json.dumps({
    "document": json.loads(app.get_openapi_json_schema()),
    "document_text": app.get_openapi_json_schema(),
    "swagger_page": app.resolve(
        {"version": "2.0", "rawPath": "/docs", "headers": {}, "requestContext": {"http": {"method": "GET", "path": "/docs"}, "stage": "$default"}},
        {},
    ),
    "seed_004": list(SEED_004),
    "data_types": list(REGISTRY),
    "actions": [a.value for a in Action],
    "kinds": [k.name for k in load_kinds()],
    "statuses": [s.value for s in JobStatus],
}))
"""

# The routes and the success answers each gives (a route not listed must document one at least).
SUCCESS = {
    ("post", "/jobs"): {"201", "200"},  # 200: a repeat with the same Idempotency-Key
    ("get", "/jobs"): {"200"},
    ("get", "/jobs/{job_id}"): {"200"},
    ("delete", "/jobs/{job_id}"): {"202"},
    ("get", "/jobs/{job_id}/errors"): {"200", "302"},
    ("get", "/job-types"): {"200"},
    ("post", "/api/jobs"): {"201", "200"},
    ("get", "/api/jobs"): {"200"},
    ("get", "/api/jobs/{job_id}"): {"200"},
    ("delete", "/api/jobs/{job_id}"): {"202"},
    ("post", "/import"): {"202"},
    ("get", "/import/{job_id}"): {"200"},
    ("get", "/import/types"): {"200"},
    ("post", "/uploads"): {"201"},
    ("get", "/openapi.json"): {"200"},
}
CREATING = [("post", "/jobs"), ("post", "/api/jobs"), ("post", "/import"), ("post", "/export/jobs"), ("post", "/segments"), ("post", "/destinations"), ("post", "/export-profiles")]
PUBLIC = [("get", "/openapi.json")]
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in SOURCE_PATHS), **API_ENV}
    child = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def document(built) -> dict[str, Any]:
    return built["document"]


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    methods = ("get", "put", "post", "delete", "patch")
    return {(m, path): op for path, item in document["paths"].items() for m, op in item.items() if m in methods}


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def test_the_document_is_valid_openapi(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_swagger_ui_shows_the_same_document_with_nothing_from_elsewhere(built):
    page = built["swagger_page"]
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"] == "text/html"
    assert built["document_text"].replace("</", "<\\/") in page["body"]
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(?!data:)", page["body"]), "Swagger UI's JS and CSS are inlined: no CDN"


def test_every_route_is_documented_with_its_real_success_codes(document):
    found = operations(document)
    assert set(SUCCESS) <= set(found)
    for key, op in found.items():
        documented = {code for code in op["responses"] if code.startswith(("2", "3"))}
        assert documented and documented == SUCCESS.get(key, documented), key
        for code in documented:
            assert op["responses"][code]["description"], (key, code)
        for code in documented - {"302", "204"}:  # a redirect and "no content" have no body
            content = op["responses"][code]["content"]
            assert content and all(media.get("schema") for media in content.values()), (key, code)


# Seed 000 answers a busy procedure in its own words ({"accepted": false, ...}), as its clients read it.
SEED_ANSWERS = {(("get", "/Integration/{endpoint}"), "409")}


def test_every_error_response_is_a_problem(document):
    for key, op in operations(document).items():
        errors = {code: r for code, r in op["responses"].items() if code.startswith(("4", "5")) and (key, code) not in SEED_ANSWERS}
        assert "500" in errors, key
        if key not in PUBLIC:
            assert "401" in errors, key
        for code, response in errors.items():
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (key, code)
    problem = schema_of(document, "Problem")
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["required"])
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_errors_are_those_the_route_can_give(document):
    ops = operations(document)

    def codes(key: tuple[str, str]) -> set[str]:
        return {c for c in ops[key]["responses"] if c.startswith("4")}

    for key in CREATING:
        assert codes(key) == {"400", "401", "409", "413", "415", "422"}, key
        assert "503" in ops[key]["responses"], key
    assert codes(("post", "/uploads")) == {"400", "401", "413", "415", "422"}
    for key in [("get", "/jobs"), ("get", "/api/jobs")]:
        assert codes(key) == {"400", "401", "422"}, key
    for key in [("get", "/jobs/{job_id}"), ("get", "/api/jobs/{job_id}"), ("get", "/import/{job_id}"), ("get", "/jobs/{job_id}/errors")]:
        assert codes(key) == {"401", "404"}, key
    for key in [("delete", "/jobs/{job_id}"), ("delete", "/api/jobs/{job_id}")]:
        assert codes(key) == {"401", "404", "409"}, key
    for key in [("get", "/job-types"), ("get", "/import/types")]:
        assert codes(key) == {"401"}, key
    assert codes(("get", "/Integration/{endpoint}")) == {"400", "401", "404", "409", "422"}  # 409: busy; 422: ?tables= given twice


def test_security_schemes_apply_globally_and_the_document_is_public(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == schemes["bearer"] | {"type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == schemes["apiKey"] | {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert document["security"] == [{"bearer": []}, {"apiKey": []}]  # either one
    ops = operations(document)
    for key, op in ops.items():
        assert op.get("security") == ([] if key in PUBLIC else None), key
    assert "/docs" not in document["paths"]  # Swagger UI itself; public like /openapi.json (request.PUBLIC_PATHS)


def test_idempotency_key_is_an_optional_header_of_the_creating_posts(document):
    for key, op in operations(document).items():
        headers = [p for p in op.get("parameters", []) if p["in"] == "header"]
        if key in CREATING:
            assert len(headers) == 1, key
            (header,) = headers
            assert header["name"] == "Idempotency-Key" and header["required"] is False, key
            assert header["schema"] | {"type": "string", "minLength": 1, "maxLength": 255} == header["schema"], key
        else:
            assert headers == [], key


def test_enums_of_data_types_actions_and_statuses(built, document):
    importing = schema_of(document, "ImportRequest")["properties"]
    assert importing["dataType"]["enum"] == built["seed_004"]
    assert importing["actionType"]["enum"] == built["actions"]
    assert schema_of(document, "JobRequest")["properties"]["type"]["enum"] == built["kinds"]
    assert schema_of(document, "JobStatus")["enum"] == built["statuses"]
    assert schema_of(document, "Job")["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}
    assert schema_of(document, "ImportStatus")["properties"]["status"]["enum"] == ["queued", "inProgress", "completed", "failed", "cancelled"]
    assert schema_of(document, "ApiJob")["properties"]["status"]["enum"] == ["pending", "running", "finished", "failed", "cancelled"]
    data_type = schema_of(document, "DataTypeOut")["properties"]
    assert data_type["dataType"]["enum"] == built["data_types"]
    assert data_type["actionTypes"]["items"]["enum"] == built["actions"]
    ops = operations(document)
    for key in [("get", "/jobs"), ("get", "/api/jobs")]:
        params = {p["name"]: p for p in ops[key]["parameters"]}
        assert {"$ref": "#/components/schemas/JobStatus"} in params["status"]["schema"]["anyOf"], key
        assert params["type"]["schema"]["enum"] == built["kinds"], key


def test_every_request_body_has_seed_examples_its_schema_accepts(built, document):
    registry = Registry().with_resource("urn:ferry", Resource.from_contents(document, default_specification=DRAFT202012))
    bodies = {key: op["requestBody"] for key, op in operations(document).items() if "requestBody" in op}
    assert {*CREATING, ("post", "/uploads")} <= set(bodies)
    for key, body in bodies.items():
        media = body["content"]["application/json"]
        schema = media["schema"]
        if "$ref" in schema:
            schema = schema_of(document, schema["$ref"].rsplit("/", 1)[1])
        # Swagger UI offers the media type's named examples, else the first of its schema's.
        examples = [e["value"] for e in media.get("examples", {}).values()] or schema.get("examples", [])
        assert body["required"] is True and examples, key
        method, path = key
        pointer = f"/paths/{path.replace('~', '~0').replace('/', '~1')}/{method}/requestBody/content/application~1json/schema"
        validator = Draft202012Validator({"$ref": f"urn:ferry#{pointer}"}, registry=registry)
        for example in examples:
            errors = [e.message for e in validator.iter_errors(example)]
            assert not errors, (key, example, errors)
    for key in [*CREATING, ("post", "/uploads")]:
        named = bodies[key]["content"]["application/json"]["examples"]
        assert all(example.get("summary") for example in named.values()), key
    examples = bodies[("post", "/jobs")]["content"]["application/json"]["examples"]
    assert set(examples) == set(built["kinds"])  # one per job type
    assert examples["import_json"]["value"]["type"] == "import_json"
    assert bodies[("post", "/import")]["content"]["application/json"]["examples"]["customers"]["value"]["dataType"] == "Customers"


def test_tags_and_readable_operation_ids(document):
    declared = {tag["name"] for tag in document["tags"]}
    ids = []
    for key, op in operations(document).items():
        assert op.get("tags") and set(op["tags"]) <= declared, key
        assert re.fullmatch(r"[a-z]+[A-Za-z]*", op["operationId"]), key
        assert op.get("summary"), key
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids))
