"""The filter language: what it refuses and where, and its SQLite translation at the edges."""
from __future__ import annotations

import json
import sqlite3

import pytest

from ferry.store import filters
from ferry.store.port import InvalidFilter


@pytest.mark.parametrize(
    ("filter", "path"),
    [
        ([{"a": 1}], "/filter"),
        ({"$where": "1"}, "/filter/$where"),
        ({"$nor": [{"a": 1}]}, "/filter/$nor"),
        ({"$or": []}, "/filter/$or"),
        ({"$and": {"a": 1}}, "/filter/$and"),
        ({"$or": [{"a": 1}, "b"]}, "/filter/$or/1"),
        ({"$or": [{"a": 1}, {"$and": [{"b": {"$size": 1}}]}]}, "/filter/$or/1/$and/0/b/$size"),
        ({"a": {"$gt": 1, "$options": "i"}}, "/filter/a/$options"),
        ({"a": {"b": 1}}, "/filter/a"),  # whole-object equality
        ({"a": {"$eq": 1, "b": 1}}, "/filter/a"),
        ({"a": {}}, "/filter/a"),
        ({"a": [1, 2]}, "/filter/a"),
        ({"a": float("nan")}, "/filter/a"),
        ({"a": {"$ne": {"b": 1}}}, "/filter/a/$ne"),
        ({"a": {"$in": "xy"}}, "/filter/a/$in"),
        ({"a": {"$in": [1, [2]]}}, "/filter/a/$in/1"),
        ({"a": {"$gt": True}}, "/filter/a/$gt"),
        ({"a": {"$lt": None}}, "/filter/a/$lt"),
        ({"a": {"$exists": 1}}, "/filter/a/$exists"),
        ({"a": {"$regex": "abc"}}, "/filter/a/$regex"),  # not anchored
        ({"a": {"$regex": "^a.c"}}, "/filter/a/$regex"),
        ({"a": {"$regex": "^abc$"}}, "/filter/a/$regex"),
        ({"a": {"$regex": "^ab*"}}, "/filter/a/$regex"),
        ({"a": {"$regex": r"^a\d"}}, "/filter/a/$regex"),  # a class, not a literal
        ({"a": {"$regex": "^a\\"}}, "/filter/a/$regex"),
        ({"a": {"$regex": "^(a|b)"}}, "/filter/a/$regex"),
        ({"_tenant": "x"}, "/filter/_tenant"),
        ({"_id": "x"}, "/filter/_id"),
        ({"_key.x": "x"}, "/filter/_key.x"),
        ({"a.$b": 1}, "/filter/a.$b"),
        ({"a..b": 1}, "/filter/a..b"),
        ({"": 1}, "/filter/"),
        ({'a"b': 1}, '/filter/a"b'),
        ({"a/b~c": {"$foo": 1}}, "/filter/a~1b~0c/$foo"),
    ],
)
def test_refused_with_a_pointer_to_the_fault(filter, path):
    with pytest.raises(InvalidFilter) as refused:
        filters.validate(filter)
    assert refused.value.path == path
    with pytest.raises(InvalidFilter):
        filters.to_sql(filter)


def test_accepted_filters_are_given_back_for_mongodb():
    filter = {
        "a.b": 1,
        "c": {"$in": (1, "x", None, True)},
        "$or": [{"d": {"$regex": r"^x\.y\-z é"}}, {"_updated_at": {"$gte": "2026"}}],
        "_key": {"$exists": True},
    }
    assert filters.validate(filter) == {**filter, "c": {"$in": [1, "x", None, True]}}


DOCS = {
    "n1": {"v": 1},
    "n1f": {"v": 1.0},
    "n2": {"v": 2},
    "t": {"v": True},
    "f": {"v": False},
    "s": {"v": "1"},
    "z": {"v": None},
    "missing": {},
    "obj": {"v": {"w": 1}},
    "arr": {"v": [1]},
    "quote": {"v": "it's"},
    "unicode": {"v": "Київ"},
}


def matching(filter) -> list[str]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (key TEXT, updated_at TEXT, doc TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", [(k, "2026", json.dumps(d)) for k, d in DOCS.items()])
    where, params = filters.to_sql(filter)
    return sorted(k for (k,) in db.execute(f"SELECT key FROM t WHERE {where}", params))


@pytest.mark.parametrize(
    ("filter", "keys"),
    [
        ({"v": 1}, "n1 n1f"),  # 1 equals 1.0, not true, not "1"
        ({"v": True}, "t"),
        ({"v": False}, "f"),
        ({"v": None}, "missing z"),
        ({"v": {"$ne": None}}, "arr f n1 n1f n2 obj quote s t unicode"),
        ({"v": {"$ne": 1}}, "arr f missing n2 obj quote s t unicode z"),
        ({"v": {"$nin": [1, "1", None]}}, "arr f n2 obj quote t unicode"),
        ({"v": {"$in": [True, 2, "it's"]}}, "n2 quote t"),
        ({"v": {"$gte": 1}}, "n1 n1f n2"),
        ({"v": {"$gt": ""}}, "quote s unicode"),
        ({"v": {"$regex": "^Ки"}}, "unicode"),
        ({"v": {"$regex": "^it'"}}, "quote"),
        ({"v": {"$exists": False}}, "missing"),
        ({"v.w": 1}, "obj"),
        ({"_key": {"$in": ["t", "f", 1]}}, "f t"),
        ({"_key": 1}, ""),
        ({"_key": None}, ""),
        ({"_key": {"$gt": 1}}, ""),
        ({"_key": {"$exists": False}}, ""),
        ({"_updated_at": {"$lte": "2026"}}, " ".join(sorted(DOCS))),
    ],
)
def test_sql_keeps_mongodb_type_rules(filter, keys):
    assert matching(filter) == keys.split()


def test_sql_names_the_document_column_given_and_binds_every_value():
    where, params = filters.to_sql({"a'b": "x'); DROP TABLE t; --"}, doc_column="d.doc")
    assert "d.doc" in where and "DROP" not in where
    assert params == ["x'); DROP TABLE t; --"]


def test_fields_refuse_paths_inside_one_another_and_drop_repeats():
    assert filters.validate_fields(["a.b", "c", "a.b", "a.bc"]) == ["a.b", "c", "a.bc"]
    with pytest.raises(InvalidFilter) as refused:
        filters.validate_fields(["a.b", "c", "a"])
    assert refused.value.path == "/fields/2"
    with pytest.raises(InvalidFilter) as refused:
        filters.validate_fields("a")
    assert refused.value.path == "/fields"


def test_order_ends_with_the_key_and_refuses_bad_items():
    assert filters.validate_order([("a", -1)]) == [("a", -1), ("_key", 1)]
    assert filters.validate_order([("_key", -1), ("a", 1)]) == [("_key", -1), ("a", 1)]
    for order, path in [([("a", True)], "/order/0/1"), ([("a", 1), ("a", -1)], "/order/1"), (["a"], "/order/0")]:
        with pytest.raises(InvalidFilter) as refused:
            filters.validate_order(order)
        assert refused.value.path == path


def test_positions_round_trip_and_refuse_strangers():
    after = filters.encode_after(["Київ", None, 2.5, True, "K1"])
    assert filters.decode_after(after, 5) == ["Київ", None, 2.5, True, "K1"]
    for bad, size in [(after, 4), ("%%%", 5), (filters.encode_after([]).replace("W", "e"), 0)]:
        with pytest.raises(InvalidFilter) as refused:
            filters.decode_after(bad, size)
        assert refused.value.path == "/after"


def test_projection_follows_mongodb_through_objects_and_arrays():
    doc = {"a": {"b": 1, "c": 2}, "l": [{"b": 1, "c": 2}, 5, {"c": 3}], "s": 1, "e": {}}
    assert filters.project(doc, ["a.b", "l.b", "s.x", "e.x", "missing.x"]) == {
        "a": {"b": 1},
        "l": [{"b": 1}, {}],
        "e": {},
    }
