"""A corpus of hostile input: every bad request gets a clean refusal, and nothing is stored.

For every case, whatever the family:
- never a 5xx;
- the status is the one the contract gives (a set where the contract allows either);
- an `x-request-id` header on the answer;
- a refusal (4xx) is an RFC 9457 problem: `application/problem+json`, a JSON object
  with `type`, `title`, `status` (the HTTP status) and `detail`;
- nothing is stored: the case's own fresh tenant has no job and no Customers afterwards.
Framing cases (raw sockets) must moreover get an HTTP status line back: never a closed
or silent connection.

Expected statuses: 400 for a body that cannot be read (not JSON, not UTF-8, too deep,
NaN/Infinity, numbers out of range), 415 for a media type that is not JSON (or JSON in
a charset other than UTF-8), 413 for a body over the inline limit, 422 for readable
content that is invalid, 401 without a valid key (checked before anything else).
Where the contract allows either 400 or 422 the case accepts both; where it allows an
answer that is not a refusal (a UTF-8 BOM, a missing Content-Type) the body is built so
that accepting it still ends in a 422, never in a stored job.
"""
from __future__ import annotations

import base64
import codecs
import json
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest

from ferry.store.port import Collection
from tests.e2e import raw_http
from tests.e2e.client import Answer, FerryClient
from tests.e2e.rows import customer

pytestmark = pytest.mark.e2e

IMPORT, JOBS = "/import", "/jobs"
MAX_INLINE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit, behind API Gateway
FRAMING_TIMEOUT = 10.0  # seconds a raw connection waits for the server's answer
DEEP = 10_000  # nesting levels
MEGABYTE_STRING = "D" * 1_000_000
DIGITS_5000 = b"9" * 5000

UNREADABLE = frozenset({400})
INVALID = frozenset({422})
UNREADABLE_OR_INVALID = frozenset({400, 422})  # where the contract genuinely allows either
UNSUPPORTED_MEDIA = frozenset({415})
UNAUTHORIZED = frozenset({401})
TOO_LARGE = frozenset({413})


# --- Bodies: valid ones with slots where the hostile bytes go ---------------------------------------------------

_row = customer(1, name="@name@", tradeNetworkId="@free@")
_row["location"]["geoCoordinate"]["latitude"] = "@lat@"
_ROW = json.dumps(_row, separators=(",", ":")).encode()


def rows(*, name: bytes = b'"OOO Svetlyachok"', free: bytes = b"null", lat: bytes = b"50.462504") -> bytes:
    """A JSON array of one valid Customers row; `name` (a string), `free` (any value), `lat` (a number) are raw JSON."""
    return b"[" + _ROW.replace(b'"@name@"', name).replace(b'"@free@"', free).replace(b'"@lat@"', lat) + b"]"


def import_body(*, data_type: bytes = b'"Customers"', action: bytes = b'"Create"', data: bytes | None = None, **row_slots: bytes) -> bytes:
    """A valid POST /import body, but for the raw JSON given."""
    return b'{"dataType":%b,"actionType":%b,"data":%b}' % (data_type, action, data if data is not None else rows(**row_slots))


def jobs_body(
    *,
    type: bytes = b'"import_json"',
    args: bytes = b'{"dataType":"Customers","actionType":"Create"}',
    name: bytes = b'"x.json"',
    free: bytes = b'"application/json"',
    file: bytes | None = None,
    content: bytes | None = None,
) -> bytes:
    """A valid POST /jobs body, but for the raw JSON given; `content` is the attachment before base64."""
    if file is None:
        file = b'"%b"' % base64.b64encode(rows() if content is None else content)
    return b'{"type":%b,"args":%b,"attachment":{"name":%b,"mime_type":%b,"file":%b}}' % (type, args, name, free, file)


DROP = object()  # a field to leave out of a document


def _changed(doc: dict[str, object], changes: dict[str, object]) -> dict[str, object]:
    doc = dict(doc)
    for key, value in changes.items():
        if value is DROP:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def import_doc(**changes: object) -> bytes:
    """A POST /import body as a document, for the shape cases."""
    return json.dumps(_changed({"dataType": "Customers", "actionType": "Create", "data": json.loads(rows())}, changes)).encode()


_ATTACHMENT = {"name": "x.json", "mime_type": "application/json", "file": base64.b64encode(rows()).decode()}


def jobs_doc(**changes: object) -> bytes:
    """A POST /jobs body as a document, for the shape cases."""
    doc = {"type": "import_json", "args": {"dataType": "Customers", "actionType": "Create"}, "attachment": _ATTACHMENT}
    return json.dumps(_changed(doc, changes)).encode()


def attachment(**changes: object) -> bytes:
    """A POST /jobs body whose attachment object has these changes."""
    return jobs_doc(attachment=_changed(_ATTACHMENT, changes))


# Valid JSON, readable, but the pair is not in the seed's table: a server that reads it answers 422.
IMPORT_BAD_PAIR = import_body(action=b'"Replace"')
JOBS_BAD_PAIR = jobs_body(args=b'{"dataType":"Customers","actionType":"Replace"}')


def nested(levels: int, kind: str = "array") -> bytes:
    return b"[" * levels + b"]" * levels if kind == "array" else b'{"a":' * levels + b"1" + b"}" * levels


def utf8_bom_then(body: bytes) -> bytes:
    return codecs.BOM_UTF8 + body


def recoded(body: bytes, encoding: str, bom: bytes = b"") -> bytes:
    return bom + body.decode("utf-8").encode(encoding)


# --- Cases ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Case:
    path: str
    body: bytes | None
    expect: frozenset[int]
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str | bytes], ...] = ()
    auth: str = "key"  # "key": the fresh tenant's key; "none": only what `headers` carry
    method: str = "POST"

    def __repr__(self) -> str:  # bodies reach megabytes: keep them out of pytest's reports
        size = "no body" if self.body is None else f"{len(self.body)} bytes"
        return f"<{self.method} {self.path[:80]} {self.content_type} {size}>"


def case(id: str, path: str, body: bytes | None, expect: frozenset[int], **options: object):
    return pytest.param(Case(path, body, expect, **options), id=id)


def both(id: str, expect: frozenset[int], import_bytes: bytes, jobs_bytes: bytes, **options: object) -> list:
    return [case(f"import-{id}", IMPORT, import_bytes, expect, **options), case(f"jobs-{id}", JOBS, jobs_bytes, expect, **options)]


def in_a_string(id: str, raw: bytes, expect: frozenset[int] = UNREADABLE) -> list:
    """`raw` as the content of a JSON string: a row's name in /import, the attachment's name in /jobs."""
    return both(id, expect, import_body(name=b'"' + raw + b'"'), jobs_body(name=b'"' + raw + b'"'))


def as_a_value(id: str, token: bytes, expect: frozenset[int] = UNREADABLE) -> list:
    """`token` as a raw JSON value: a row's tradeNetworkId in /import, the attachment's mime_type in /jobs."""
    return both(id, expect, import_body(free=token), jobs_body(free=token))


def whole(id: str, change, expect: frozenset[int] = UNREADABLE, **options: object) -> list:
    """The valid bodies of both routes, changed as a whole."""
    return both(id, expect, change(import_body()), change(jobs_body()), **options)


def attached(id: str, content: bytes, expect: frozenset[int] = UNREADABLE_OR_INVALID) -> object:
    """A valid /jobs body whose attachment, before base64, is `content`."""
    return case(f"attachment-{id}", JOBS, jobs_body(content=content), expect)


ENCODINGS = [
    *in_a_string("raw-0xff-in-string", b"OOO \xff Svetlyachok"),
    *whole("raw-0xff-first-byte", lambda b: b"\xff" + b),
    *in_a_string("latin-1-bytes", "Caf\u00e9 Zo\u00eb".encode("latin-1")),
    *in_a_string("continuation-byte-alone", b"a\x80b"),
    *whole("utf-16le-bom", lambda b: recoded(b, "utf-16-le", codecs.BOM_UTF16_LE)),
    *whole("utf-16le-no-bom", lambda b: recoded(b, "utf-16-le")),
    *whole("utf-16be-bom", lambda b: recoded(b, "utf-16-be", codecs.BOM_UTF16_BE)),
    *whole("utf-16be-no-bom", lambda b: recoded(b, "utf-16-be")),
    *whole("utf-16-bom-charset-utf-16", lambda b: recoded(b, "utf-16"), UNSUPPORTED_MEDIA, content_type="application/json; charset=utf-16"),
    *whole("utf-16le-no-bom-charset-utf-16le", lambda b: recoded(b, "utf-16-le"), UNSUPPORTED_MEDIA, content_type="application/json; charset=utf-16le"),
    *whole("utf-32-bom", lambda b: recoded(b, "utf-32")),
    *whole("utf-32le-no-bom", lambda b: recoded(b, "utf-32-le")),
    *whole("utf-32-bom-charset-utf-32", lambda b: recoded(b, "utf-32"), UNSUPPORTED_MEDIA, content_type="application/json; charset=utf-32"),
    # A UTF-8 BOM may be skipped (then the bad pair gives 422) or refused (400): either way no job.
    *both("utf-8-bom-then-json", UNREADABLE_OR_INVALID, utf8_bom_then(IMPORT_BAD_PAIR), utf8_bom_then(JOBS_BAD_PAIR)),
    *whole("utf-8-bom-alone", lambda b: codecs.BOM_UTF8, UNREADABLE_OR_INVALID),  # skipped, it is an empty body
    # Lone surrogates are JSON by the grammar but no Unicode text: unreadable or invalid, never stored.
    *in_a_string("lone-high-surrogate-escape", rb"OOO \ud800", UNREADABLE_OR_INVALID),
    *in_a_string("lone-low-surrogate-escape", rb"OOO \udc00", UNREADABLE_OR_INVALID),
    *in_a_string("reversed-surrogate-pair-escape", rb"\udc00\ud800", UNREADABLE_OR_INVALID),
    *both("lone-surrogate-in-key", UNREADABLE_OR_INVALID, import_body(free=rb'{"k\ud800":1}'), jobs_body(args=rb'{"dataType":"Customers","actionType":"Create","\udfff":1}')),
    *in_a_string("overlong-slash-2-bytes", b"a\xc0\xafb"),
    *in_a_string("overlong-slash-3-bytes", b"a\xe0\x80\xafb"),
    *in_a_string("overlong-nul", b"a\xc0\x80b"),
    *in_a_string("utf-8-encoded-surrogate", b"a\xed\xa0\x80b"),
    *in_a_string("beyond-u10ffff", b"a\xf4\x90\x80\x80b"),
    *in_a_string("truncated-multibyte", b"a\xe2\x82"),
    *in_a_string("raw-nul-in-string", b"a\x00b"),
    *whole("raw-nul-between-tokens", lambda b: b"{\x00" + b[1:]),
    *whole("only-nul-bytes", lambda b: b"\x00" * 64),
    *both("escaped-nul-in-type-name", INVALID, import_body(data_type=rb'"Customers\u0000"'), jobs_body(type=rb'"import_json\u0000"')),
    *both("escaped-nul-in-key", INVALID, b'{"dataType\\u0000"' + import_body()[len(b'{"dataType"'):], b'{"type\\u0000"' + jobs_body()[len(b'{"type"'):]),
]

NESTING = [
    *whole(f"top-level-{DEEP}-arrays", lambda b: nested(DEEP)),
    *whole(f"top-level-{DEEP}-objects", lambda b: nested(DEEP, "object")),
    *as_a_value(f"{DEEP}-arrays-in-a-field", nested(DEEP)),
    *as_a_value(f"{DEEP}-objects-in-a-field", nested(DEEP, "object")),
    case(f"import-{DEEP}-arrays-as-data", IMPORT, import_body(data=nested(DEEP)), UNREADABLE),
    case(f"import-{DEEP}-arrays-as-a-row", IMPORT, import_body(data=b"[" + nested(DEEP) + b"]"), UNREADABLE),
    case(f"import-{DEEP}-objects-as-dataType", IMPORT, import_body(data_type=nested(DEEP, "object")), UNREADABLE),
    case(f"jobs-{DEEP}-arrays-as-args-value", JOBS, jobs_body(args=b'{"dataType":' + nested(DEEP) + b',"actionType":"Create"}'), UNREADABLE),
    attached(f"{DEEP}-arrays", nested(DEEP)),
    attached(f"{DEEP}-objects", nested(DEEP, "object")),
    attached(f"{DEEP}-arrays-in-a-row", rows(free=nested(DEEP))),
    attached(f"{DEEP}-objects-in-a-row", rows(free=nested(DEEP, "object"))),
]

_OUT_OF_RANGE = {
    "5000-digit-integer": DIGITS_5000,
    "1e400": b"1e400",
    "minus-1e400": b"-1e400",
    "1E+400": b"1E+400",
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "minus-Infinity": b"-Infinity",
}

NUMBERS = [
    *[case(f"import-{name}-as-latitude", IMPORT, import_body(lat=token), UNREADABLE) for name, token in _OUT_OF_RANGE.items()],
    *[attached(f"{name}-as-latitude", rows(lat=token)) for name, token in _OUT_OF_RANGE.items()],
    case("import-5000-digit-integer-as-body", IMPORT, DIGITS_5000, UNREADABLE_OR_INVALID),
    case("import-5000-digit-integer-as-dataType", IMPORT, import_body(data_type=DIGITS_5000), UNREADABLE_OR_INVALID),
    case("jobs-NaN-as-body", JOBS, b"NaN", UNREADABLE),
    case("jobs-Infinity-as-args-value", JOBS, jobs_body(args=b'{"dataType":Infinity,"actionType":"Create"}'), UNREADABLE),
    attached("5000-digit-integer-as-content", DIGITS_5000),
    # Numbers as strings where an object (or the rows' array) is expected.
    case("import-number-string-as-body", IMPORT, b'"12345"', INVALID),
    case("import-number-string-as-data", IMPORT, import_body(data=b'"123"'), INVALID),
    case("jobs-number-string-as-body", JOBS, b'"12345"', INVALID),
    case("jobs-number-string-as-args", JOBS, jobs_body(args=b'"5"'), INVALID),
    case("jobs-number-string-as-attachment", JOBS, jobs_doc(attachment="12"), INVALID),
    attached("number-string-as-content", b'"12"', INVALID),
]

NOT_JSON = [
    *as_a_value("seed-NULL", b"NULL"),
    *whole("single-quotes", lambda b: b.replace(b'"', b"'")),
    *whole("trailing-comma-in-object", lambda b: b[:-1] + b",}"),
    *as_a_value("trailing-comma-in-array", b"[1,2,]"),
    *whole("line-comment", lambda b: b"// the import\n" + b),
    *as_a_value("block-comment", b"/* nothing */ null"),
    *whole("truncated-halfway", lambda b: b[: len(b) // 2]),
    *whole("truncated-last-byte", lambda b: b[:-1]),
    *whole("truncated-in-an-escape", lambda b: b[:2] + b"\\u12"),
    *whole("empty-body", lambda b: b"", UNREADABLE_OR_INVALID),
    *whole("whitespace-body", lambda b: b" \r\n\t "),
    *whole("null", lambda b: b"null", INVALID),
    *whole("bare-string", lambda b: b'"Customers"', INVALID),
    *whole("bare-number", lambda b: b"42", INVALID),
    *whole("bare-true", lambda b: b"true", INVALID),
    *whole("array-instead-of-object", lambda b: b"[" + b + b"]", INVALID),
    # Duplicate keys: a last-wins parser would read a valid request; the first value says otherwise.
    *both("duplicate-key", UNREADABLE_OR_INVALID, b'{"dataType":"Products",' + import_body()[1:], b'{"type":"reticulate",' + jobs_body()[1:]),
    *both("duplicate-key-second-level", UNREADABLE_OR_INVALID, b'{"data":[],' + import_body()[1:], jobs_body(args=b'{"actionType":"Replace","dataType":"Customers","actionType":"Create"}')),
    *whole("two-documents", lambda b: b + b),
    *whole("trailing-garbage", lambda b: b + b" x"),
    *in_a_string("raw-tab-in-string", b"a\tb"),
    *in_a_string("raw-newline-in-string", b"a\nb"),
    *in_a_string("invalid-escape", rb"\x41"),
    *as_a_value("hex-number", b"0x10"),
    *as_a_value("leading-zero", b"012"),
    *as_a_value("leading-plus", b"+1"),
    *as_a_value("bare-decimal-point", b".5"),
    *as_a_value("undefined", b"undefined"),
    *as_a_value("python-True", b"True"),
    *both("unquoted-key", UNREADABLE, import_body().replace(b'"dataType"', b"dataType"), jobs_body().replace(b'"type"', b"type")),
]

WRONG_SHAPES = [
    case("import-missing-dataType", IMPORT, import_doc(dataType=DROP), INVALID),
    case("import-missing-actionType", IMPORT, import_doc(actionType=DROP), INVALID),
    case("import-missing-data", IMPORT, import_doc(data=DROP), INVALID),
    case("import-empty-object", IMPORT, b"{}", INVALID),
    case("import-dataType-number", IMPORT, import_doc(dataType=42), INVALID),
    case("import-dataType-null", IMPORT, import_doc(dataType=None), INVALID),
    case("import-dataType-array", IMPORT, import_doc(dataType=["Customers"]), INVALID),
    case("import-dataType-operator-object", IMPORT, import_doc(dataType={"$ne": None}), INVALID),
    case("import-dataType-bool", IMPORT, import_doc(dataType=True), INVALID),
    case("import-actionType-number", IMPORT, import_doc(actionType=1), INVALID),
    case("import-data-object", IMPORT, import_doc(data={"0": customer(1)}), INVALID),
    case("import-data-number", IMPORT, import_doc(data=5), INVALID),
    case("import-data-null", IMPORT, import_doc(data=None), INVALID),
    case("import-unknown-top-level-field", IMPORT, import_doc(extra=1), INVALID),
    case("import-proto-top-level-field", IMPORT, import_doc(__proto__={"admin": True}), INVALID),
    case("import-unknown-dataType", IMPORT, import_doc(dataType="Widgets"), INVALID),
    case("import-empty-dataType", IMPORT, import_doc(dataType=""), INVALID),
    case("import-path-in-dataType", IMPORT, import_doc(dataType="../Customers"), INVALID),
    case("import-sql-in-dataType", IMPORT, import_doc(dataType="Customers; DROP TABLE Customers"), INVALID),
    case("import-Customers-Replace", IMPORT, import_doc(actionType="Replace"), INVALID),
    case("import-ProductPrices-Create", IMPORT, import_doc(dataType="ProductPrices"), INVALID),
    case("import-Tasks-Update", IMPORT, import_doc(dataType="Tasks", actionType="Update"), INVALID),
    case("import-ProductImages-Create", IMPORT, import_doc(dataType="ProductImages"), INVALID),
    case("import-unknown-actionType", IMPORT, import_doc(actionType="Explode"), INVALID),
    case("import-empty-actionType", IMPORT, import_doc(actionType=""), INVALID),
    case("import-1MB-dataType", IMPORT, import_doc(dataType=MEGABYTE_STRING), INVALID),
    case("import-1MB-actionType", IMPORT, import_doc(actionType=MEGABYTE_STRING), INVALID),
    case("import-1MB-field-name", IMPORT, import_doc(**{MEGABYTE_STRING: 1}), INVALID),
    case("jobs-missing-type", JOBS, jobs_doc(type=DROP), INVALID),
    case("jobs-unknown-type", JOBS, jobs_doc(type="reticulate"), INVALID),
    case("jobs-csv-kind-with-json-only-action", JOBS, jobs_doc(type="import_csv", args={"dataType": "Customers", "actionType": "Replace"}), INVALID),
    case("jobs-empty-type", JOBS, jobs_doc(type=""), INVALID),
    case("jobs-type-number", JOBS, jobs_doc(type=7), INVALID),
    case("jobs-1MB-type", JOBS, jobs_doc(type=MEGABYTE_STRING), INVALID),
    case("jobs-missing-args", JOBS, jobs_doc(args=DROP), INVALID),
    case("jobs-args-array", JOBS, jobs_doc(args=["Customers", "Create"]), INVALID),
    case("jobs-args-number", JOBS, jobs_doc(args=5), INVALID),
    case("jobs-args-missing-dataType", JOBS, jobs_doc(args={"actionType": "Create"}), INVALID),
    case("jobs-args-missing-actionType", JOBS, jobs_doc(args={"dataType": "Customers"}), INVALID),
    case("jobs-args-unknown-field", JOBS, jobs_doc(args={"dataType": "Customers", "actionType": "Create", "extra": 1}), INVALID),
    case("jobs-args-dataType-number", JOBS, jobs_doc(args={"dataType": 1, "actionType": "Create"}), INVALID),
    case("jobs-args-unknown-dataType", JOBS, jobs_doc(args={"dataType": "Widgets", "actionType": "Create"}), INVALID),
    case("jobs-args-Customers-Replace", JOBS, jobs_doc(args={"dataType": "Customers", "actionType": "Replace"}), INVALID),
    case("jobs-args-1MB-dataType", JOBS, jobs_doc(args={"dataType": MEGABYTE_STRING, "actionType": "Create"}), INVALID),
    case("jobs-unknown-top-level-field", JOBS, jobs_doc(priority="high"), INVALID),
    case("jobs-missing-attachment", JOBS, jobs_doc(attachment=DROP), INVALID),
    case("jobs-null-attachment", JOBS, jobs_doc(attachment=None), INVALID),
    case("jobs-empty-attachment-object", JOBS, jobs_doc(attachment={}), INVALID),
    case("jobs-attachment-unknown-field", JOBS, attachment(url="https://example.com/x.json"), INVALID),
    case("jobs-attachment-missing-file", JOBS, attachment(file=DROP), INVALID),
    case("jobs-attachment-empty-file", JOBS, attachment(file=""), INVALID),
    case("jobs-attachment-file-percent-signs", JOBS, attachment(file="%%%"), INVALID),
    case("jobs-attachment-file-not-base64", JOBS, attachment(file="this is not base64!"), INVALID),
    # A URL attachment is accepted and fetched by the worker, behind its guard: see test_file_imports.py.
    case("jobs-attachment-file-file-url", JOBS, attachment(file="file:///etc/passwd"), INVALID),
    case("jobs-attachment-file-unknown-upload", JOBS, attachment(file="upload:01JNOSUCHUPLOAD000000000000"), INVALID),
    case("jobs-attachment-file-number", JOBS, attachment(file=12345), INVALID),
    case("jobs-attachment-file-bad-padding", JOBS, attachment(file="YQ"), UNREADABLE_OR_INVALID),
]

ATTACHMENT_CONTENT = [
    attached("json-object-instead-of-array", json.dumps(customer(1)).encode(), INVALID),
    attached("json-null", b"null", INVALID),
    attached("json-bare-string", b'"customers"', INVALID),
    attached("json-bare-number", b"42", INVALID),
    attached("raw-0xff-bytes", b"\xff\xfe\xfd" * 10),
    attached("latin-1-bytes", rows(name='"Caf\u00e9"'.encode("latin-1"))),
    attached("utf-16-with-bom", recoded(rows(), "utf-16")),
    attached("utf-16le-no-bom", recoded(rows(), "utf-16-le")),
    attached("utf-32-with-bom", recoded(rows(), "utf-32")),
    # BOM skipped: an object, not an array (422); BOM refused: 400.
    attached("utf-8-bom-then-object", utf8_bom_then(json.dumps(customer(1)).encode())),
    attached("lone-surrogate-escape", rows(name=rb'"OOO \ud800"')),
    attached("overlong-utf-8", rows(name=b'"a\xc0\xafb"')),
    attached("raw-nul-in-string", rows(name=b'"a\x00b"')),
    attached("seed-NULL", rows(free=b"NULL")),
    attached("single-quotes", rows().replace(b'"', b"'")),
    attached("trailing-comma", rows()[:-1] + b",]"),
    attached("comment", b"/* rows */ " + rows()),
    attached("truncated", rows()[:-7]),
    attached("whitespace-only", b"  \n  "),
    attached("two-documents", rows() + rows()),
    attached("csv-instead-of-json", b"vendorId,name\r\nC0000001,OOO\r\n"),
]

MEDIA_TYPES = [
    *whole("text-plain", lambda b: b, UNSUPPORTED_MEDIA, content_type="text/plain"),
    *whole("text-plain-utf-8", lambda b: b, UNSUPPORTED_MEDIA, content_type="text/plain; charset=utf-8"),
    *whole(
        "multipart-form-data",
        lambda b: b'--XB\r\nContent-Disposition: form-data; name="body"; filename="x.json"\r\nContent-Type: application/json\r\n\r\n' + b + b"\r\n--XB--\r\n",
        UNSUPPORTED_MEDIA,
        content_type="multipart/form-data; boundary=XB",
    ),
    *whole(
        "application-xml-with-xxe",
        lambda b: b'<?xml version="1.0"?><!DOCTYPE i [<!ENTITY e SYSTEM "file:///etc/passwd">]><import><dataType>&e;</dataType></import>',
        UNSUPPORTED_MEDIA,
        content_type="application/xml",
    ),
    *whole("application-xml-with-json-body", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/xml"),
    *whole("text-csv", lambda b: b, UNSUPPORTED_MEDIA, content_type="text/csv"),
    *whole("application-octet-stream", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/octet-stream"),
    *whole("application-jsonx-prefix", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/jsonx"),
    *whole("application-json-seq", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/json-seq"),
    *whole("charset-latin-1", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/json; charset=latin-1"),
    *whole("charset-iso-8859-1", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/json; charset=ISO-8859-1"),
    *whole("charset-utf-16-on-utf-8-bytes", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/json; charset=utf-16"),
    *whole("charset-bogus", lambda b: b, UNSUPPORTED_MEDIA, content_type="application/json; charset=klingon"),
    # JSON under any spelling of its media type is read: the bad pair then answers 422, never 415.
    *both("Application-JSON", INVALID, IMPORT_BAD_PAIR, JOBS_BAD_PAIR, content_type="Application/JSON"),
    *both("APPLICATION-JSON-CHARSET-UTF-8", INVALID, IMPORT_BAD_PAIR, JOBS_BAD_PAIR, content_type="APPLICATION/JSON; CHARSET=UTF-8"),
    *both("charset-quoted-utf-8", INVALID, IMPORT_BAD_PAIR, JOBS_BAD_PAIR, content_type='application/json;charset="utf-8"'),
    *both("space-before-parameter", INVALID, IMPORT_BAD_PAIR, JOBS_BAD_PAIR, content_type="application/json ; charset=utf-8"),
    # Documented: what `curl -d` sends is read as JSON.
    *both("form-urlencoded-label-json-body", INVALID, IMPORT_BAD_PAIR, JOBS_BAD_PAIR, content_type="application/x-www-form-urlencoded"),
    *whole("form-urlencoded-form-body", lambda b: b"dataType=Customers&actionType=Create&data=%5B%5D", UNREADABLE, content_type="application/x-www-form-urlencoded"),
    # No media type at all: reading it as JSON (422 for the bad pair) or refusing it (415) are both fair.
    *both("no-content-type", frozenset({415, 422}), IMPORT_BAD_PAIR, JOBS_BAD_PAIR, content_type=None),
    *both("empty-content-type", frozenset({415, 422}), IMPORT_BAD_PAIR, JOBS_BAD_PAIR, content_type=""),
]


def _oversized_import() -> bytes:
    base = len(import_body(name=b'""'))
    return import_body(name=b'"' + b"x" * (MAX_INLINE_BYTES + 1 - base) + b'"')


def _oversized_job() -> bytes:
    name_length = (MAX_INLINE_BYTES * 3) // 4 - 2000
    while len(body := jobs_body(content=rows(name=b'"' + b"x" * name_length + b'"'))) <= MAX_INLINE_BYTES:
        name_length += max(1, (MAX_INLINE_BYTES + 1 - len(body)) * 3 // 4)
    return body


SIZES = [
    case("import-just-over-6MB", IMPORT, _oversized_import(), TOO_LARGE),
    case("jobs-just-over-6MB", JOBS, _oversized_job(), TOO_LARGE),
]

IDEMPOTENCY_KEYS = [
    *whole("idempotency-key-0-characters", lambda b: b, INVALID, headers=(("Idempotency-Key", ""),)),
    *whole("idempotency-key-300-characters", lambda b: b, INVALID, headers=(("Idempotency-Key", "k" * 300),)),
]

_NO_KEY = {"auth": "none"}
_WRONG_KEY = {"auth": "none", "headers": (("Authorization", "Bearer " + "0" * 32),)}
AUTH = [
    *whole("no-key-malformed-json", lambda b: b[: len(b) // 2], UNAUTHORIZED, **_NO_KEY),
    *whole("no-key-empty-body", lambda b: b"", UNAUTHORIZED, **_NO_KEY),
    *whole(f"no-key-{DEEP}-arrays", lambda b: nested(DEEP), UNAUTHORIZED, **_NO_KEY),
    *whole("no-key-raw-0xff", lambda b: b"\xff" + b, UNAUTHORIZED, **_NO_KEY),
    *both("no-key-bad-pair", UNAUTHORIZED, IMPORT_BAD_PAIR, JOBS_BAD_PAIR, **_NO_KEY),
    *whole("no-key-text-plain", lambda b: b, UNAUTHORIZED, content_type="text/plain", **_NO_KEY),
    case("no-key-bad-list-query", "/jobs?limit=abc&status=bogus", None, UNAUTHORIZED, method="GET", content_type=None, **_NO_KEY),
    *whole("wrong-key-valid-body", lambda b: b, UNAUTHORIZED, **_WRONG_KEY),
    *whole("wrong-key-malformed-json", lambda b: b"{", UNAUTHORIZED, **_WRONG_KEY),
    case("wrong-x-api-key-valid-body", IMPORT, import_body(), UNAUTHORIZED, auth="none", headers=(("x-api-key", "not-a-key"),)),
    case("empty-bearer-token", IMPORT, import_body(), UNAUTHORIZED, auth="none", headers=(("Authorization", "Bearer "),)),
    case("basic-scheme", JOBS, jobs_body(), UNAUTHORIZED, auth="none", headers=(("Authorization", "Basic dXNlcjpwYXNz"),)),
    case("10KB-bearer-token", IMPORT, import_body(), UNAUTHORIZED, auth="none", headers=(("Authorization", "Bearer " + "k" * 10_000),)),
    case("non-ascii-bearer-token", JOBS, jobs_body(), UNAUTHORIZED, auth="none", headers=(("Authorization", b"Bearer \xff\xfe\xc3\x28"),)),
]


def _get(id: str, query: str, expect: frozenset[int]):
    return case(id, f"/jobs?{query}", None, expect, method="GET", content_type=None)


def _b64(raw: bytes) -> str:
    return quote(base64.urlsafe_b64encode(raw).decode())


LIST_QUERIES = [
    _get("limit-0", "limit=0", INVALID),
    _get("limit-1001", "limit=1001", INVALID),
    _get("limit-minus-1", "limit=-1", INVALID),
    _get("limit-abc", "limit=abc", UNREADABLE_OR_INVALID),
    _get("limit-1.5", "limit=1.5", UNREADABLE_OR_INVALID),
    _get("limit-1e3", "limit=1e3", UNREADABLE_OR_INVALID),
    _get("limit-5000-digits", "limit=" + DIGITS_5000.decode(), UNREADABLE_OR_INVALID),
    _get("limit-nul", "limit=%00", UNREADABLE_OR_INVALID),
    _get("limit-twice", "limit=1&limit=2", UNREADABLE_OR_INVALID),
    _get("status-bogus", "status=bogus", INVALID),
    _get("status-nul", "status=%00", INVALID),
    _get("status-5000-characters", "status=" + "x" * 5000, INVALID),
    _get("type-sql-injection", "type=" + quote("' OR '1'='1"), INVALID),
    _get("type-5000-characters", "type=" + "t" * 5000, INVALID),
    _get("created_after-not-a-date", "created_after=not-a-date", UNREADABLE_OR_INVALID),
    _get("created_before-not-a-date", "created_before=not-a-date", UNREADABLE_OR_INVALID),
    _get("created_after-month-13", "created_after=2026-13-45T99:99:99Z", UNREADABLE_OR_INVALID),
    _get("created_after-huge-number", "created_after=" + "9" * 40, UNREADABLE_OR_INVALID),
    _get("created_after-invalid-utf-8", "created_after=%FF%FE", UNREADABLE_OR_INVALID),
    _get("cursor-garbage", "cursor=garbage", UNREADABLE),
    _get("cursor-invalid-utf-8", "cursor=%FF%FE", UNREADABLE),
    _get("cursor-nul", "cursor=%00", UNREADABLE),
    _get("cursor-base64-json-object", "cursor=" + _b64(b'{"pk":"x","sk":"y"}'), UNREADABLE),
    _get("cursor-base64-null", "cursor=" + _b64(b"null"), UNREADABLE),
    _get(f"cursor-base64-{DEEP}-arrays", "cursor=" + _b64(nested(DEEP)), UNREADABLE),
    _get("cursor-10KB", "cursor=" + "A" * 10_000, UNREADABLE),
]


# --- Framing: bytes no HTTP library would send ------------------------------------------------------------------

_VALID = import_body()
_HEAD = b"POST /import HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nConnection: close\r\n"


def _chunked(body: bytes) -> bytes:
    return b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)


@dataclass(frozen=True, repr=False)
class Framing:
    payload: bytes  # `{KEY}` is replaced with the fresh tenant's key
    expect: frozenset[int] = UNREADABLE
    half_close: bool = False

    def __repr__(self) -> str:
        return f"<{self.payload[:60]!r}... {len(self.payload)} bytes>"


FRAMING = [
    pytest.param(Framing(_HEAD + b"Content-Length: abc\r\n\r\n" + _VALID), id="content-length-abc"),
    pytest.param(Framing(_HEAD + b"Content-Length: -1\r\n\r\n" + _VALID), id="content-length-minus-1"),
    pytest.param(Framing(_HEAD + b"Content-Length: +%d\r\n\r\n%b" % (len(_VALID), _VALID)), id="content-length-with-plus-sign"),
    pytest.param(Framing(_HEAD + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n%b" % (len(_VALID), len(_VALID) + 5, _VALID)), id="two-different-content-lengths"),
    # The server waits for bytes that never come: it must time the request out (408) or refuse it (400), not hang.
    pytest.param(Framing(_HEAD + b"Content-Length: %d\r\n\r\n%b" % (len(_VALID) + 100, _VALID), frozenset({400, 408})), id="content-length-beyond-the-bytes-sent"),
    pytest.param(Framing(_HEAD + b"Content-Length: 99999999999999999999\r\n\r\n" + _VALID, TOO_LARGE), id="content-length-of-a-body-no-client-sends"),
    pytest.param(Framing(_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + _VALID + b"\r\n0\r\n\r\n"), id="chunked-non-hex-size"),
    pytest.param(Framing(_HEAD + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n0\r\n\r\n"), id="chunked-negative-size"),
    pytest.param(Framing(_HEAD + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", frozenset({400, 413})), id="chunked-size-overflow"),
    pytest.param(Framing(_HEAD + b"Transfer-Encoding: chunked\r\n\r\n64\r\n" + _VALID[:10], half_close=True), id="chunked-stream-ends-mid-chunk"),
    pytest.param(
        # Smuggling shape: read as chunked it is the bad pair (422); read by Content-Length it is not JSON (400); or refused (400).
        Framing(_HEAD + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%b" % (len(_chunked(IMPORT_BAD_PAIR)), _chunked(IMPORT_BAD_PAIR)), UNREADABLE_OR_INVALID),
        id="content-length-and-chunked",
    ),
    pytest.param(Framing(b"GARBAGE\r\n\r\n"), id="request-line-garbage"),
    pytest.param(Framing(b"POST /import HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n"), id="request-line-extra-token"),
    pytest.param(Framing(b"POST /import HTTP/x.y\r\nHost: 127.0.0.1\r\n\r\n"), id="request-line-bad-version"),
    pytest.param(Framing(b"GET /jobs?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", frozenset({400, 414})), id="request-line-70KB"),
    pytest.param(Framing(_HEAD + b"this header has no colon\r\nContent-Length: %d\r\n\r\n%b" % (len(_VALID), _VALID)), id="header-line-without-colon"),
    pytest.param(Framing(_HEAD + b"Content-Length : %d\r\n\r\n%b" % (len(_VALID), _VALID)), id="space-before-header-colon"),
    pytest.param(
        Framing(
            b"POST /import HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"100000\r\n" + b" " * 0x100000 + b"\r\n" for _ in range(7))
            + b"0\r\n\r\n",
            TOO_LARGE,
        ),
        id="chunked-body-over-6MB",
    ),
]


# --- Checks -----------------------------------------------------------------------------------------------------


def answer_violations(answer: Answer, expect: frozenset[int]) -> list[str]:
    found: list[str] = []
    if answer.status >= 500:
        found.append(f"a server error ({answer.status})")
    if answer.status not in expect:
        found.append(f"status {answer.status}, expected {' or '.join(map(str, sorted(expect)))}")
    if not answer.headers.get("x-request-id"):
        found.append("no x-request-id header")
    if 400 <= answer.status < 500:
        found += problem_violations(answer)
    return found


def problem_violations(answer: Answer) -> list[str]:
    found: list[str] = []
    media_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/problem+json":
        found.append(f"content-type {answer.headers.get('content-type')!r}, not application/problem+json")
    try:
        body = json.loads(answer.body)
    except ValueError:
        return found + ["the body is not JSON"]
    if not isinstance(body, dict):
        return found + ["the body is not a JSON object"]
    for member in ("type", "title", "detail"):
        if not isinstance(body.get(member), str) or not body[member]:
            found.append(f"no {member!r} string in the problem")
    if not str(body.get("type", "")).startswith("/problems/"):
        found.append(f"problem type {body.get('type')!r} is none of the documented /problems/<slug>")
    if body.get("status") != answer.status:
        found.append(f"problem status {body.get('status')!r} is not the HTTP status {answer.status}")
    if "Traceback" in answer.body.decode("utf-8", "replace"):
        found.append("a stack trace in the body")
    return found


def stored_violations(tenant: str, client: FerryClient, entities, jobs_before: int = 0) -> list[str]:
    found: list[str] = []
    listing = client.get("/jobs?limit=1000")
    if listing.status != 200:
        found.append(f"GET /jobs for the tenant answered {listing.status}")
    elif (count := len(listing.json()["items"])) != jobs_before:
        found.append(f"{count - jobs_before} job(s) stored: {[(j['id'], j['status']) for j in listing.json()['items']][:3]}")
    customers = entities.count(Collection(tenant, "Customers"))
    if customers:
        found.append(f"{customers} Customers stored")
    return found


def report(answer: Answer | None, violations: list[str]) -> str:
    if answer is None:
        return "; ".join(violations)
    return "; ".join(violations) + f"\n  answer: {answer.status} {answer.headers.get('content-type')} {answer.body[:400]!r}"


def run(case: Case, fresh) -> Answer:
    headers: list[tuple[str, str | bytes]] = []
    if case.content_type is not None:
        headers.append(("Content-Type", case.content_type))
    if case.auth == "key":
        headers.append(("Authorization", f"Bearer {fresh.client.api_key}"))
    headers += case.headers
    return raw_http.send(fresh.client.base_url, case.method, case.path, case.body, headers)


def check(case: Case, fresh, entities, also=lambda answer: []) -> None:
    """Sends the case from the fresh tenant; `also` adds a family's own findings about the answer."""
    answer = run(case, fresh)
    violations = answer_violations(answer, case.expect) + also(answer)
    if answer.status == 200 and case.method == "GET" and _json_or_none(answer, "items"):
        violations.append("a list of a tenant without jobs has items")
    violations += stored_violations(fresh.tenant, fresh.client, entities)
    assert not violations, report(answer, violations)


def _json_or_none(answer: Answer, member: str):
    try:
        return json.loads(answer.body).get(member)
    except (ValueError, AttributeError):
        return None


# --- Tests: one per family --------------------------------------------------------------------------------------


def test_the_bodies_the_corpus_breaks_are_valid(fresh):
    """Control: unbroken, each body is accepted (and its row imported), so each case's fault is the only one."""
    client = fresh.client
    headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {client.api_key}")]
    imported = raw_http.send(client.base_url, "POST", IMPORT, import_body(), headers)
    assert imported.status == 202, imported.body
    job = client.wait(imported.json()["id"])
    assert job["status"] == "finished" and job["progress"]["succeeded"] == 1, job
    # The same row again: these jobs are accepted, then reject it as a duplicate; acceptance is what counts here.
    created = raw_http.send(client.base_url, "POST", JOBS, jobs_body(), headers)
    assert created.status == 201, created.body
    framed = raw_http.exchange(client.base_url, _HEAD.replace(b"{KEY}", client.api_key.encode()) + b"Content-Length: %d\r\n\r\n%b" % (len(_VALID), _VALID), FRAMING_TIMEOUT)
    assert framed.answer is not None and framed.answer.status == 202, framed
    for path, body in ((IMPORT, IMPORT_BAD_PAIR), (JOBS, JOBS_BAD_PAIR)):
        refused = raw_http.send(client.base_url, "POST", path, body, headers)
        assert refused.status == 422 and "/actionType" in refused.body.decode(), refused.body


@pytest.mark.parametrize("case", ENCODINGS)
def test_encodings(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", NESTING)
def test_nesting(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", NUMBERS)
def test_numbers(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", NOT_JSON)
def test_not_json(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", WRONG_SHAPES)
def test_wrong_shapes(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", ATTACHMENT_CONTENT)
def test_attachment_content(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", MEDIA_TYPES)
def test_media_types(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", SIZES)
def test_sizes(case, fresh, entities):
    def points_to_uploads(answer: Answer) -> list[str]:
        # The contract: beyond the inline limit, the answer says to use /uploads.
        detail = str(_json_or_none(answer, "detail") or "")
        return ["the 413 does not point to /uploads"] if case.path == JOBS and answer.status == 413 and "/uploads" not in detail else []

    check(case, fresh, entities, also=points_to_uploads)


@pytest.mark.parametrize("case", IDEMPOTENCY_KEYS)
def test_idempotency_key(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", AUTH)
def test_auth(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("case", LIST_QUERIES)
def test_list_queries(case, fresh, entities):
    check(case, fresh, entities)


@pytest.mark.parametrize("framing", FRAMING)
def test_framing(framing, fresh, entities):
    sent = raw_http.exchange(fresh.client.base_url, framing.payload.replace(b"{KEY}", fresh.client.api_key.encode()), FRAMING_TIMEOUT, framing.half_close)
    violations = [f"no HTTP answer: {sent.failure}"] if sent.answer is None else answer_violations(sent.answer, framing.expect)
    violations += stored_violations(fresh.tenant, fresh.client, entities)
    assert not violations, report(sent.answer, violations)


# --- A valid cursor, reused with other filters ------------------------------------------------------------------


@dataclass
class PagedTenant:
    tenant: str
    client: FerryClient
    next_link: str  # link.next of `GET /jobs?limit=1`
    jobs: int


@pytest.fixture(scope="module")
def paged(local_stack) -> PagedTenant:
    """A tenant with three ended jobs, newest first: finished, failed, finished."""
    tenant, key = f"tenant-{secrets.token_hex(4)}", secrets.token_hex(16)
    local_stack.add_tenant(tenant, key)
    client = FerryClient(local_stack.url, key)
    statuses = []
    for data in ([], [{"not": "a customer"}], []):  # an empty import finishes; one whose only row fails is failed
        statuses.append(client.wait(client.import_rows("Customers", "Create", data))["status"])
    assert statuses == ["finished", "failed", "finished"], statuses
    first = client.get("/jobs?limit=1").json()
    return PagedTenant(tenant, client, first["link"]["next"], len(statuses))


def _with_query(link: str, **changes: str) -> str:
    url = urlsplit(link)
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    query.update(changes)
    return f"{url.path}?{urlencode(query)}"


CURSOR_REUSE = [
    pytest.param({"status": "finished"}, id="next-link-plus-status-finished"),
    pytest.param({"status": "failed"}, id="next-link-plus-status-failed"),
    pytest.param({"type": "export_csv"}, id="next-link-plus-another-type"),
    pytest.param({"created_after": "2999-01-01T00:00:00Z"}, id="next-link-plus-created_after-in-the-future"),
    pytest.param({"limit": "1000"}, id="next-link-with-another-limit"),
]


@pytest.mark.parametrize("changes", CURSOR_REUSE)
def test_valid_cursor_reused_with_other_filters(changes, paged, entities):
    """Either the filters apply to the next page (200), or the cursor is refused: a 400 naming the cursor."""
    answer = paged.client.get(_with_query(paged.next_link, **changes))
    violations = answer_violations(answer, frozenset({200, 400}))
    if answer.status == 400 and not violations:
        pointers = [e.get("pointer", "") for e in answer.json().get("errors", [])]
        if not any(p.endswith("/cursor") for p in pointers):
            violations.append(f"the 400 does not name /cursor (pointers: {pointers})")
    if answer.status == 200:
        items = answer.json()["items"]
        if "status" in changes and any(j["status"] != changes["status"] for j in items):
            violations.append(f"status={changes['status']} is ignored: {[j['status'] for j in items]}")
        if "type" in changes and items:
            violations.append(f"type={changes['type']} is ignored: {len(items)} items")
        if "created_after" in changes and items:
            violations.append(f"created_after={changes['created_after']} is ignored: {len(items)} items")
    violations += stored_violations(paged.tenant, paged.client, entities, jobs_before=paged.jobs)
    assert not violations, report(answer, violations)


def test_another_tenants_cursor_is_refused(paged, fresh, entities):
    """The cursor is bound to its tenant: another tenant presenting it gets a 400, and sees nothing."""
    cursor = dict(parse_qsl(urlsplit(paged.next_link).query))["cursor"]
    answer = fresh.client.get("/jobs?" + urlencode({"cursor": cursor, "limit": "1"}))
    violations = answer_violations(answer, UNREADABLE)
    violations += stored_violations(fresh.tenant, fresh.client, entities)
    assert not violations, report(answer, violations)
