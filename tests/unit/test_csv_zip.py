"""Exports: documents to one CSV in one zip, as a stream: columns, cells, escaping, quoting, the zip, memory."""
from __future__ import annotations

import csv
import io
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from ferry.datatypes import models
from ferry.datatypes.paths import field_paths
from ferry.exports.csv_zip import Column, CsvZipWriter, Written, columns_for
from ferry.imports.formats.csv_table import CsvOptions, open_table, open_zipped_file, row_of
from ferry.store.filters import lookup

MODIFIED = datetime(2026, 11, 22, 3, 0, 0)


def exported(docs: list[dict[str, Any]], columns: list[Column], **options: Any) -> tuple[bytes, bytes, Written]:
    """The zip's bytes, its CSV member's bytes, and what the writer reported."""
    sink = io.BytesIO()
    writer = CsvZipWriter(sink, "Customers.csv", columns, modified=MODIFIED, **options)
    writer.write(values(docs, writer))
    written = writer.close()
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as archive:
        member = archive.read("Customers.csv")
    return sink.getvalue(), member, written


def values(docs: list[dict[str, Any]], writer: CsvZipWriter) -> list[list[Any]]:
    """The documents as the entity store reads them for an export (EntityStore.values)."""
    return [[lookup(doc, path) for path in writer.paths] for doc in docs]


def rows(docs: list[dict[str, Any]], paths: list[str]) -> list[list[str]]:
    """The CSV read back with the csv module: header first."""
    _, member, _ = exported(docs, columns_for(paths, labels=None, multi_value="join", widths={}))
    return read(member)


def read(member: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(member.decode("utf-8-sig"), newline="")))


def cells(value: Any) -> str:
    """The one cell a value becomes."""
    return rows([{"v": value}], ["v", "w"])[1][0]


# --- columns --------------------------------------------------------------------------------------


def test_headers_are_the_field_paths():
    columns = columns_for(["vendorId", "location.settlement"], labels=None, multi_value="join", widths={})
    assert columns == [Column("vendorId", "vendorId"), Column("location.settlement", "location.settlement")]


def test_headers_are_the_labels_where_a_path_has_one():
    labels = {"vendorId": "Codice cliente", "location.settlement": "Città"}
    columns = columns_for(["vendorId", "name", "location.settlement"], labels=labels, multi_value="join", widths={})
    assert [c.header for c in columns] == ["Codice cliente", "name", "Città"]
    assert [c.path for c in columns] == ["vendorId", "name", "location.settlement"]


def test_a_joined_list_is_one_column_and_a_spread_one_a_numbered_column_per_item():
    widths = {"barcodes": 3}
    assert columns_for(["vendorId", "barcodes"], labels=None, multi_value="join", widths=widths) == [
        Column("vendorId", "vendorId"),
        Column("barcodes", "barcodes"),
    ]
    spread = columns_for(["vendorId", "barcodes"], labels={"barcodes": "EAN"}, multi_value="spread", widths=widths)
    assert spread == [
        Column("vendorId", "vendorId"),
        Column("EAN 1", "barcodes", 0),
        Column("EAN 2", "barcodes", 1),
        Column("EAN 3", "barcodes", 2),
    ]


def test_a_spread_list_no_document_fills_still_has_its_column():
    assert columns_for(["barcodes"], labels=None, multi_value="spread", widths={"barcodes": 0}) == [
        Column("barcodes 1", "barcodes", 0)
    ]


def test_a_writer_needs_a_column():
    with pytest.raises(ValueError):
        CsvZipWriter(io.BytesIO(), "Customers.csv", [], modified=MODIFIED)


# --- cells ----------------------------------------------------------------------------------------


def test_absent_and_null_are_empty_cells():
    assert rows([{"a": None, "b": "x"}, {"b": "y"}], ["a", "b"]) == [["a", "b"], ["", "x"], ["", "y"]]


def test_booleans_are_true_and_false():
    assert (cells(True), cells(False)) == ("true", "false")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (0, "0"),
        (-3, "-3"),
        (10**16, "10000000000000000"),
        (2**63, "9223372036854775808"),
        (50.462504, "50.462504"),
        (-12.5, "-12.5"),
        (0.1, "0.1"),
        (100.0, "100.0"),
        (1e16, "1e+16"),
        (2.5e-05, "2.5e-05"),
    ],
)
def test_numbers_are_written_as_json_writes_them(value, cell):
    assert cells(value) == cell


def test_a_negative_number_is_not_taken_for_a_formula():
    assert rows([{"sum": -12.5, "n": -7}], ["sum", "n"])[1] == ["-12.5", "-7"]


def test_dates_and_timestamps_stay_iso_8601():
    docs = [{"dateFrom": "2026-11-01", "_updated_at": "2026-11-22T03:00:00.000Z"}]
    assert rows(docs, ["dateFrom", "_updated_at"])[1] == ["2026-11-01", "2026-11-22T03:00:00.000Z"]


def test_an_object_is_compact_json():
    assert cells({"latitude": 50.4, "name": "Київ"}) == '{"latitude":50.4,"name":"Київ"}'


# --- formula injection ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+2", "+39 06 123", "-12.5", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")'])
def test_text_a_spreadsheet_would_evaluate_gets_a_leading_apostrophe(text):
    assert cells(text) == "'" + text


@pytest.mark.parametrize("text", ["", "a=b", "x-1", "'already", " =1", "Caffè"])
def test_other_text_is_kept_as_it_is(text):
    assert cells(text) == text


def test_only_the_formula_cells_of_a_column_are_escaped():
    docs = [{"name": n} for n in ["Alfa", "=cmd|' /C calc'!A0", "Beta", "-Gamma"]]
    assert [r[0] for r in rows(docs, ["name"])[1:]] == ["Alfa", "'=cmd|' /C calc'!A0", "Beta", "'-Gamma"]


def test_a_formula_after_a_newline_inside_a_cell_is_not_a_cell_start():
    assert cells("line one\n=not a start") == "line one\n=not a start"


def test_headers_are_escaped_too():
    columns = columns_for(["a"], labels={"a": "=label"}, multi_value="join", widths={})
    _, member, _ = exported([{"a": 1}], columns)
    assert member.decode("utf-8-sig").splitlines()[0] == "'=label"


# --- lists ----------------------------------------------------------------------------------------


def test_a_joined_list_is_its_items_separated_by_a_comma_objects_as_json():
    assert cells(["A1", "A2", "A3"]) == "A1, A2, A3"
    assert cells([1, 2.5, True]) == "1, 2.5, true"
    assert cells([{"currencyId": "UAH", "sum": -12.5}, {"currencyId": "EUR", "sum": 3}]) == (
        '{"currencyId":"UAH","sum":-12.5}, {"currencyId":"EUR","sum":3}'
    )
    assert cells([]) == ""


def test_a_joined_list_is_text_so_it_is_escaped_by_its_start():
    assert cells(["-5", "x"]) == "'-5, x"
    assert cells([-5, 2]) == "'-5, 2"


def test_a_spread_list_puts_each_item_in_its_own_column():
    docs = [
        {"k": "P1", "barcodes": ["111", "222", "333"]},
        {"k": "P2", "barcodes": ["444"]},
        {"k": "P3", "barcodes": []},
        {"k": "P4"},
        {"k": "P5", "barcodes": [-1, "=x", {"a": 1}]},
    ]
    columns = columns_for(["k", "barcodes"], labels=None, multi_value="spread", widths={"barcodes": 3})
    _, member, _ = exported(docs, columns)
    assert read(member) == [
        ["k", "barcodes 1", "barcodes 2", "barcodes 3"],
        ["P1", "111", "222", "333"],
        ["P2", "444", "", ""],
        ["P3", "", "", ""],
        ["P4", "", "", ""],
        ["P5", "-1", "'=x", '{"a":1}'],
    ]


def test_items_beyond_the_counted_width_are_kept_joined_in_the_last_column():
    # The widths are counted before the export; a document may have gained items since.
    columns = columns_for(["barcodes"], labels=None, multi_value="spread", widths={"barcodes": 2})
    _, member, _ = exported([{"barcodes": ["1", "2", "3", "4"]}], columns)
    assert read(member)[1] == ["1", "2, 3, 4"]


def test_a_single_value_in_a_spread_column_is_its_first_item():
    columns = columns_for(["barcodes"], labels=None, multi_value="spread", widths={"barcodes": 2})
    _, member, _ = exported([{"barcodes": "111"}], columns)
    assert read(member)[1] == ["111", ""]


# --- text, quoting, lines -------------------------------------------------------------------------


def test_unicode_is_utf8_after_a_byte_order_mark():
    docs = [{"name": "ООО Светлячок"}, {"name": "Caffè Roma – 5€"}, {"name": "東京 🚚"}]
    _, member, _ = exported(docs, columns_for(["name"], labels=None, multi_value="join", widths={}))
    assert member.startswith(b"\xef\xbb\xbfname\r\n")
    assert member.decode("utf-8-sig").split("\r\n")[1:4] == ["ООО Светлячок", "Caffè Roma – 5€", "東京 🚚"]


def test_lines_end_with_crlf():
    _, member, _ = exported([{"a": "x", "b": 1}], columns_for(["a", "b"], labels=None, multi_value="join", widths={}))
    assert member == b"\xef\xbb\xbfa,b\r\nx,1\r\n"


@pytest.mark.parametrize("text", ["a,b", 'say "hi"', "two\nlines", "two\r\nlines", "cr\ronly", '"', ",", "x;y"])
def test_delimiters_quotes_and_line_breaks_are_quoted_and_read_back(text):
    assert rows([{"a": text, "b": "next"}], ["a", "b"])[1] == [text, "next"]


def test_a_cell_is_quoted_only_when_it_must_be():
    _, member, _ = exported(
        [{"a": "plain", "b": 'q"uote'}, {"a": "com,ma", "b": "x"}],
        columns_for(["a", "b"], labels=None, multi_value="join", widths={}),
    )
    assert member.decode("utf-8-sig") == 'a,b\r\nplain,"q""uote"\r\n"com,ma",x\r\n'


def test_another_delimiter_quotes_that_delimiter():
    _, member, _ = exported(
        [{"a": "x;y", "b": "1,5"}], columns_for(["a", "b"], labels=None, multi_value="join", widths={}), delimiter=";"
    )
    assert member.decode("utf-8-sig") == 'a;b\r\n"x;y";1,5\r\n'


def test_an_empty_cell_of_a_lone_column_still_makes_a_row():
    assert rows([{"a": "x"}, {}, {"a": ""}, {"a": "y"}], ["a"]) == [["a"], ["x"], [""], [""], ["y"]]


# --- the zip ------------------------------------------------------------------------------------


def test_the_zip_holds_exactly_one_csv_member():
    archive, _, _ = exported([{"a": 1}], columns_for(["a"], labels=None, multi_value="join", widths={}))
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert zipped.testzip() is None
        (entry,) = zipped.infolist()
    assert entry.filename == "Customers.csv"
    assert entry.compress_type == zipfile.ZIP_DEFLATED
    assert entry.date_time == (2026, 11, 22, 3, 0, 0)
    assert entry.external_attr >> 16 & 0o777 == 0o644


class Counted:
    """A sink that keeps only the count of what it was given."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        pass


class WriteOnly:
    """A sink that can only be written, as an upload stream: no seek, no tell."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def customers(count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield {
            "vendorId": f"{1_000_000_000 + n}",
            "name": f"ООО Светлячок {n}",
            "taxNumber": f"{100_000_000 + n}",
            "location": {
                "countryId": "UKR",
                "addressLine": f"вул. Дегтярівська {n % 200 + 1}",
                "geoCoordinate": {"latitude": 50.462504 + (n % 1000) / 1e5, "longitude": 30.469118},
                "settlement": "Київ",
            },
            "tradeNetworkId": None,
            "officeId": "FAD3D784-6A79-4AF8-BF66-DB214FADEF11",
            "_key": f"{1_000_000_000 + n}",
            "_updated_at": "2026-11-22T03:00:00.000Z",
        }


CUSTOMER_PATHS = [*field_paths(models.Customers), "_updated_at"]


def batches(docs: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def test_a_write_only_sink_gets_a_whole_zip_and_the_counts_are_right():
    sink = WriteOnly()
    columns = columns_for(CUSTOMER_PATHS, labels=None, multi_value="join", widths={})
    writer = CsvZipWriter(sink, "Customers.csv", columns, modified=MODIFIED)
    for batch in batches(customers(2_500), 1_000):
        writer.write(values(batch, writer))
    writer.write([])
    written = writer.close()
    archive = b"".join(sink.parts)
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        member = zipped.read("Customers.csv")
    table = read(member)
    assert written == Written(rows=2_500, csv_bytes=len(member), zip_bytes=len(archive))
    assert len(table) == 1 + 2_500
    assert table[0] == CUSTOMER_PATHS
    assert table[2500][:3] == ["1000002499", "ООО Светлячок 2499", "100002499"]


def test_no_documents_is_a_header_alone():
    columns = columns_for(["a", "b"], labels=None, multi_value="join", widths={})
    sink = io.BytesIO()
    written = CsvZipWriter(sink, "Customers.csv", columns, modified=MODIFIED).close()
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as zipped:
        assert zipped.read("Customers.csv") == b"\xef\xbb\xbfa,b\r\n"
    assert (written.rows, written.csv_bytes, written.zip_bytes) == (0, 8, len(sink.getvalue()))


def test_an_export_reads_back_through_ferrys_own_csv_import():
    docs = list(customers(50))
    paths = field_paths(models.Customers)
    archive, _, _ = exported(docs, columns_for(list(paths), labels=None, multi_value="join", widths={}))
    layout, records = open_table(open_zipped_file(io.BytesIO(archive)), CsvOptions(), paths)
    back = [row_of(record, layout) for record in records]
    business = [{k: v for k, v in doc.items() if not k.startswith("_") and v is not None} for doc in docs]
    assert (layout.delimiter, layout.unknown) == (",", [])
    assert back == business


def test_200000_documents_stream_through_in_bounded_memory():
    # One batch of 10,000 documents written 20 times: what the writer itself allocates is
    # what is traced, and it must not grow with the rows written (the CSV is ~38 MB).
    columns = columns_for(CUSTOMER_PATHS, labels=None, multi_value="join", widths={})
    sink = Counted()
    writer = CsvZipWriter(sink, "Customers.csv", columns, modified=MODIFIED)
    batch = values(list(customers(10_000)), writer)
    tracemalloc.start()
    try:
        writer.write(batch)
        _, first_peak = tracemalloc.get_traced_memory()
        for _ in range(19):
            writer.write(batch)
        written = writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written.rows == 200_000
    assert written.csv_bytes > 35_000_000
    assert written.zip_bytes == sink.written
    assert peak < 20_000_000
    assert peak < first_peak * 1.5
