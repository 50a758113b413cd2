"""Reading CSV files as streams: encodings, delimiters, headers, rows, refusals, and zips holding one file."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
from pydantic import TypeAdapter, ValidationError

from ferry.datatypes import models
from ferry.datatypes.paths import field_paths
from ferry.imports.formats.csv_table import (
    EXTRA_CELLS,
    HEAD_BYTES,
    CsvLayout,
    CsvOptions,
    UnreadableFile,
    is_zip,
    open_table,
    open_zipped_file,
    row_of,
)

CUSTOMERS = field_paths(models.Customers)
PRODUCTS = field_paths(models.Products)


def table(content: bytes, paths=CUSTOMERS, **options) -> tuple[CsvLayout, list[list[str]]]:
    layout, records = open_table(io.BytesIO(content), CsvOptions(**options), paths)
    return layout, list(records)


def refusal(content: bytes, **options) -> str:
    with pytest.raises(UnreadableFile) as caught:
        table(content, **options)
    return caught.value.reason


# --- encodings ------------------------------------------------------------------------------------


def test_utf8_with_a_bom_maps_its_first_header():
    layout, records = table("\ufeffvendorId,name\nC1,Žabka\n".encode("utf-8"))
    assert (layout.header, layout.paths, layout.encoding) == (["vendorId", "name"], ["vendorId", "name"], "utf-8")
    assert records == [["C1", "Žabka"]]


def test_text_that_is_not_utf8_is_read_as_cp1252():
    layout, records = table("vendorId;name\nC1;Caffè – 5€\n".encode("cp1252"))
    assert layout.encoding == "cp1252"
    assert records == [["C1", "Caffè – 5€"]]


def test_an_explicit_latin1_wins_over_detection():
    # "Ã©" is what UTF-8 "é" looks like in Latin-1: the file is valid UTF-8, the caller says otherwise.
    layout, records = table("vendorId,name\nC1,Ã©\n".encode("latin-1"), encoding="latin-1")
    assert layout.encoding == "iso8859-1"
    assert records == [["C1", "Ã©"]]


def test_utf16_with_a_bom_is_read():
    layout, records = table("vendorId\tname\nC1\tCaffè\n".encode("utf-16"))
    assert (layout.encoding, layout.delimiter, records) == ("utf-16", "\t", [["C1", "Caffè"]])


@pytest.mark.parametrize("encoding", ["klingon", "hex"])
def test_an_encoding_that_does_not_make_text_is_refused_by_name(encoding):
    assert encoding in refusal(b"vendorId\nC1\n", encoding=encoding)


def test_text_that_an_explicit_encoding_cannot_read_is_refused():
    assert refusal("vendorId\nCaffè\n".encode("latin-1"), encoding="utf-8").startswith("the file is not utf-8 text")


def test_bytes_that_no_encoding_reads_are_refused():
    # 0x81 is undefined in cp1252 and, alone, invalid UTF-8.
    assert refusal(b"vendorId\nC\x81\n") == "the file is not UTF-8 and no encoding was given that reads it"


def test_text_that_stops_decoding_after_the_first_64_kib_fails_the_reading():
    body = b"vendorId\n" + b"C1\n" * (HEAD_BYTES // 3) + b"C\xff\n"
    layout, records = open_table(io.BytesIO(body), CsvOptions(), CUSTOMERS)
    with pytest.raises(UnreadableFile, match="stops being utf-8 text after line"):
        list(records)


# --- delimiters and quoting -----------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed(delimiter):
    content = delimiter.join(["vendorId", "name", "taxNumber"]) + "\n" + delimiter.join(["C1", "A, B; C", "7"]) + "\n"
    layout, records = table(content.replace("A, B; C", '"A, B; C"').encode())
    assert layout.delimiter == delimiter
    assert records == [["C1", "A, B; C", "7"]]


def test_a_single_column_is_read_with_the_comma():
    layout, records = table(b"vendorId\nC1\nC2\n")
    assert (layout.delimiter, records) == (",", [["C1"], ["C2"]])


def test_a_given_delimiter_is_used_as_it_is():
    layout, records = table(b"vendorId;name,taxNumber\nC1;a,b\n", delimiter=";")
    assert (layout.header, layout.unknown) == (["vendorId", "name,taxNumber"], ["name,taxNumber"])
    assert records == [["C1", "a,b"]]


def test_quoted_fields_hold_newlines_and_blank_lines_are_not_records():
    layout, records = table(b'vendorId,name\r\nC1,"two\r\nlines"\r\n\r\nC2,"say ""hi"""\r\n')
    assert records == [["C1", "two\r\nlines"], ["C2", 'say "hi"']]


# --- headers --------------------------------------------------------------------------------------


def test_headers_match_fields_without_regard_to_case_or_surrounding_spaces():
    layout, records = table(b" VENDORID ,Location.Settlement,location.geoCoordinate.LATITUDE\nC1,Kyiv,50.46\n")
    assert layout.header == [" VENDORID ", "Location.Settlement", "location.geoCoordinate.LATITUDE"]
    assert layout.paths == ["vendorId", "location.settlement", "location.geoCoordinate.latitude"]
    assert row_of(records[0], layout) == {
        "vendorId": "C1",
        "location": {"settlement": "Kyiv", "geoCoordinate": {"latitude": 50.46}},
    }


def test_the_columns_option_maps_headers_first():
    layout, _ = table(
        "Codice,Città,name,Nome\nC1,Roma,x,y\n".encode(),
        columns={"codice": "vendorId", "Città": "location.settlement", "Nome": "name", "name": "taxNumber"},
    )
    assert layout.paths == ["vendorId", "location.settlement", "taxNumber", "name"]


def test_a_columns_option_naming_no_field_is_refused():
    assert "'nowhere'" in refusal(b"Codice\nC1\n", columns={"Codice": "nowhere"})


def test_unknown_columns_are_listed_once_and_feed_nothing():
    layout, records = table(b"vendorId,colour,name,size\nC1,red,A,L\nC2,blue,B,M\n")
    assert (layout.paths, layout.unknown) == (["vendorId", None, "name", None], ["colour", "size"])
    assert [row_of(cells, layout) for cells in records] == [
        {"vendorId": "C1", "name": "A"},
        {"vendorId": "C2", "name": "B"},
    ]


def test_two_columns_naming_one_field_are_refused():
    assert refusal(b"vendorId,name,NAME\nC1,a,b\n") == "columns 'name' and 'NAME' both name the field name"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"\r\n\n\r\n", "the file is empty"),
        (b"C1,OOO Svetlyachok,123\n", "the file has no header row"),
        (b"vendorId,name\x00\x00\x01\x02\n", "the file is not text (binary content)"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "the file is not text (binary content)"),
    ],
)
def test_files_that_are_no_table_are_refused_at_once(content, reason):
    assert refusal(content).startswith(reason)


def test_an_unclosed_quote_is_refused_once_the_field_outgrows_the_limit():
    content = b'vendorId,name\nC1,"never closed\n' + b"x" * 200_000
    layout, records = open_table(io.BytesIO(content), CsvOptions(), CUSTOMERS)
    with pytest.raises(UnreadableFile, match="field larger than field limit"):
        list(records)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        # Read leniently, the rows after the quote would be one cell of row 1, and the job would count 1 row.
        (b'vendorId,name\nQ-1,"unterminated\nQ-2,x\nQ-3,y\n', "the record starting at line 2 is not CSV: a quoted cell is never closed"),
        (b'vendorId,name\nQ-1,a\nQ-2,"b"c\n', "the record starting at line 3 is not CSV: ',' expected after '\"'"),
    ],
)
def test_a_record_that_is_not_csv_is_refused_naming_the_line_it_starts_at(content, reason):
    layout, records = open_table(io.BytesIO(content), CsvOptions(), CUSTOMERS)
    with pytest.raises(UnreadableFile) as caught:
        list(records)
    assert caught.value.reason == reason


# --- streaming ------------------------------------------------------------------------------------


class GeneratedCsv(io.RawIOBase):
    """A CSV of `rows` Customers rows made as it is read; `served` counts the bytes handed out."""

    def __init__(self, rows: int) -> None:
        self._lines = self._generate(rows)
        self._pending = b""
        self.served = 0

    @staticmethod
    def _generate(rows: int) -> Iterator[bytes]:
        yield b"vendorId,name,location.countryId,location.addressLine,location.geoCoordinate.latitude\n"
        for n in range(rows):
            yield f'C{n:07d},"OOO Svetlyachok {n}",UKR,"vul. Dehtiarivska {n}, Kyiv",50.46{n % 10}\n'.encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self._pending) < len(buffer) and (line := next(self._lines, None)) is not None:
            self._pending += line
        size = min(len(buffer), len(self._pending))
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        self.served += size
        return size


def test_a_200000_row_file_is_read_as_a_stream():
    source = GeneratedCsv(200_000)
    layout, records = open_table(io.BufferedReader(source), CsvOptions(), CUSTOMERS)
    first = [next(records) for _ in range(1000)]
    # About 70 bytes a row, 14 MB in all: only the head and a buffer's worth have been pulled.
    assert source.served < 2 * HEAD_BYTES
    assert row_of(first[-1], layout)["location"]["geoCoordinate"] == {"latitude": 50.469}
    assert 1000 + sum(1 for _ in records) == 200_000
    assert source.served > 13_000_000


# --- rows -----------------------------------------------------------------------------------------


def row(header: str, line: str, paths=PRODUCTS) -> dict:
    layout, records = table(f"{header}\n{line}\n".encode(), paths=paths)
    return row_of(records[0], layout)


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("12.5", 12.5),
        ("1234,56", 1234.56),
        ("-0,5", -0.5),
        (" 7 ", 7.0),
        ("1e3", 1000.0),
        ("1,234", "1,234"),  # a thousands separator or a decimal comma: left to validation
        ("1.234,56", "1.234,56"),
        ("twelve", "twelve"),
        ("1e999", "1e999"),  # not a finite number
    ],
)
def test_number_cells_become_numbers_when_they_read_as_one(cell, value):
    assert row("vendorId;weight", f"P1;{cell}")["weight"] == value


@pytest.mark.parametrize(("cell", "value"), [("42", 42), ("-3", -3), ("4.2", "4.2"), ("9" * 30, "9" * 30)])
def test_integer_cells_become_64_bit_integers(cell, value):
    assert row("vendorId;orderIndex", f"P1;{cell}")["orderIndex"] == value


@pytest.mark.parametrize(
    ("cell", "value"),
    [("true", True), ("YES", True), ("1", True), ("False", False), ("no", False), ("0", False), ("maybe", "maybe")],
)
def test_boolean_cells(cell, value):
    got = row("vendorId;active", f"P1;{cell}")["active"]
    assert (type(got), got) == (type(value), value)


def test_array_cells_split_on_the_bar():
    assert row("vendorId;barcodes", "P1;4820000000001|4820000000002")["barcodes"] == ["4820000000001", "4820000000002"]


def test_empty_and_missing_cells_are_absent_fields():
    assert row("vendorId;name;code;weight", "P1;;") == {"vendorId": "P1"}


def test_extra_cells_are_kept_under_a_key_that_validation_refuses():
    built = row("vendorId;name", "P1;A;surplus;")
    assert built == {"vendorId": "P1", "name": "A", EXTRA_CELLS: ["surplus", ""]}
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(models.Products).validate_python(built)
    assert [(error["loc"], error["type"]) for error in caught.value.errors()] == [((EXTRA_CELLS,), "extra_forbidden")]


def test_a_trailing_delimiter_is_no_extra_cell():
    assert row("vendorId;name", "P1;A;") == {"vendorId": "P1", "name": "A"}


# --- zip ------------------------------------------------------------------------------------------


def zipped(*members: tuple[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def unzipped_refusal(content: bytes) -> str:
    with pytest.raises(UnreadableFile) as caught:
        open_zipped_file(io.BytesIO(content))
    return caught.value.reason


def test_zips_are_known_by_their_magic_bytes():
    assert is_zip(zipped(("a.csv", b"vendorId\n"))[:4])
    assert not is_zip(b"vendorId,name\n")


def test_a_zip_holding_one_file_gives_that_file(tmp_path):
    archive = tmp_path / "customers.zip"
    archive.write_bytes(
        zipped(
            ("export/", b""),
            ("export/customers.csv", b"vendorId\nC1\n"),
            ("__MACOSX/export/._customers.csv", b"\x00\x05"),
        )
    )
    with open_zipped_file(archive) as member:  # readable after the ZipFile that opened it has closed
        layout, records = open_table(member, CsvOptions(), CUSTOMERS)
        assert list(records) == [["C1"]]


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ((("a.csv", b"x"), ("b.csv", b"y")), "the zip must hold exactly one file; it holds 2: a.csv, b.csv"),
        ((("empty/", b""),), "the zip must hold exactly one file; it holds 0"),
        ((("../evil.csv", b"x"),), "the zip holds a path that leaves its folder: '../evil.csv'"),
        ((("/etc/evil.csv", b"x"),), "the zip holds a path that leaves its folder: '/etc/evil.csv'"),
        ((("a.csv", b"x"), ("__MACOSX/../../evil", b"x")), "the zip holds a path that leaves its folder"),
    ],
)
def test_zips_holding_anything_but_one_file_are_refused(members, reason):
    assert unzipped_refusal(zipped(*members)).startswith(reason)


def test_a_member_expanding_over_100_times_is_refused():
    bomb = zipped(("bomb.csv", b"0" * 1_000_000))  # deflates about 1000:1
    assert "expands more than 100 times" in unzipped_refusal(bomb)


def test_members_compressed_otherwise_than_deflate_are_refused():
    assert "other than deflate" in unzipped_refusal(zipped(("a.csv", b"vendorId\n"), compression=zipfile.ZIP_BZIP2))


def test_an_encrypted_member_is_refused():
    content = bytearray(zipped(("a.csv", b"vendorId\n"), compression=zipfile.ZIP_STORED))
    for header, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        content[content.index(header) + flags_at] |= 0x1
    assert "is encrypted" in unzipped_refusal(bytes(content))


def test_a_member_that_fails_its_crc_is_refused_while_read():
    content = zipped(("a.csv", b"vendorId\nC1\n"), compression=zipfile.ZIP_STORED).replace(b"C1", b"C2", 1)
    member = open_zipped_file(io.BytesIO(content))
    with pytest.raises(UnreadableFile, match="corrupt"):
        member.read()


@pytest.mark.parametrize("content", [b"PK\x03\x04 not a zip at all", b"vendorId\nC1\n"])
def test_what_is_not_a_zip_is_refused(content):
    assert unzipped_refusal(content).startswith("the file is not a valid zip archive")
