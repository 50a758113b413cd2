"""Client JSON is read strictly, within what the stores can keep, and every refusal says where."""
from __future__ import annotations

import pytest

from ferry.core.jsontext import JsonRefused, parse


@pytest.mark.parametrize(
    ("text", "reason", "line", "column"),
    [
        (b"[NaN]", "NaN and Infinity are not JSON numbers", 1, 2),
        (b'{"a": Infinity}', "NaN and Infinity are not JSON numbers", 1, 7),
        (b"[-Infinity]", "NaN and Infinity are not JSON numbers", 1, 3),
        (b"[" * 300 + b"]" * 300, "nested deeper than 200 levels", 1, 202),
        (b"[" + b"9" * 5000 + b"]", "number out of range", 1, 4303),
        (b"[1e400]", "number out of range", 1, 3),
        (b"[-1e400]", "number out of range", 1, 4),
        (b"[9223372036854775808]", "number out of range", 1, 2),
        (b"[-9223372036854775808]", "number out of range", 1, 3),  # at its digits
        (b"\xff", "not UTF-8", 1, 1),
        (b'"\\ud800"', "unexpected end of hex escape", 1, 8),
        (b'{"a":\n tru}', "expected ident", 2, 5),
        ('["éé", NaN]'.encode(), "NaN and Infinity are not JSON numbers", 1, 8),
        (b'{"a":1,"a":2}', "member name 'a' appears twice in one object", 1, 8),
        (b'{"x": {"b": [1], "b": 3}}', "member name 'b' appears twice in one object", 1, 18),
        (b"[NULL]", "expected value", 1, 2),
        (b"", "EOF while parsing a value", 1, 1),
    ],
)
def test_refusals_name_the_reason_and_the_place(text, reason, line, column):
    with pytest.raises(JsonRefused) as refused:
        parse(text)
    assert refused.value.reason.startswith(reason)
    assert (refused.value.line, refused.value.column) == (line, column)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"\xef\xbb\xbf[1]", [1]),  # a UTF-8 byte order mark is read past
        (b'[9223372036854775807, -9223372036854775807, "123456789012345678901234567890"]', [2**63 - 1, -(2**63 - 1), "123456789012345678901234567890"]),
        (b"[1e308, 2.5e-300]", [1e308, 2.5e-300]),
        (b'{"a": {"a": 1}}', {"a": {"a": 1}}),
        (b"[" * 150 + b"]" * 150, eval("[" * 150 + "]" * 150)),
    ],
)
def test_what_is_json_and_fits_is_read(text, value):
    assert parse(text) == value
