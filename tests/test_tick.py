"""Tests of the provider-neutral value types (hkticks.tick).

The record form is the contract between the feed and every sink (JSONL, CSV,
SQLite) and ``replay``: field names and order must not drift, and a record
read back (from JSON, or from CSV where everything is a string) must rebuild
the same tick.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkticks.tick import BOOK_FIELDS, RECORD_FIELDS, SIDES, BadRecord, Book, Event, Tick

TICK = Tick("00700", 1_700_000_000_123, 382.4, 100, 38240.0, "buy", 123456, 1_700_000_000_200, "x")


def test_record_fields_are_the_documented_ones() -> None:
    assert RECORD_FIELDS == (
        "symbol",
        "ts",
        "price",
        "volume",
        "turnover",
        "side",
        "seq",
        "recv_ts",
        "src",
    )
    assert BOOK_FIELDS == ("symbol", "ts", "bids", "asks", "seq", "recv_ts", "src")
    assert SIDES == ("buy", "sell")


def test_record_order_and_values() -> None:
    rec = TICK.record()
    assert tuple(rec) == RECORD_FIELDS
    assert rec == {
        "symbol": "00700",
        "ts": 1_700_000_000_123,
        "price": 382.4,
        "volume": 100,
        "turnover": 38240.0,
        "side": "buy",
        "seq": 123456,
        "recv_ts": 1_700_000_000_200,
        "src": "x",
    }


def test_row_matches_record() -> None:
    assert TICK.row() == tuple(TICK.record().values())
    assert TICK.row() == tuple(getattr(TICK, name) for name in RECORD_FIELDS)


def test_from_record_round_trip() -> None:
    assert Tick.from_record(TICK.record()) == TICK


def test_from_record_through_json() -> None:
    assert Tick.from_record(json.loads(json.dumps(TICK.record()))) == TICK


def through_csv(*ticks: Tick) -> list[dict[str, Any]]:
    """The rows a CSV file of ``ticks`` reads back as: all strings, "" for None."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(RECORD_FIELDS)
    writer.writerows(t.row() for t in ticks)
    return [dict(row) for row in csv.DictReader(io.StringIO(buf.getvalue(), newline=""))]


def test_from_record_through_csv_strings() -> None:
    """CSV gives back strings, and "" for None; from_record must still rebuild."""
    bare = Tick("00005", 1, 60.05, 400, 24020.0, None, None, 2, "alltick")
    rows = through_csv(TICK, bare)
    assert rows[0]["price"] == "382.4"
    assert (rows[1]["side"], rows[1]["seq"]) == ("", "")
    assert [Tick.from_record(r) for r in rows] == [TICK, bare]


def test_from_record_nones() -> None:
    tick = Tick("00005", 1, 60.0, 400, 24000.0, None, None, 2, "alltick")
    assert Tick.from_record(tick.record()) == tick
    rec = tick.record()
    del rec["side"], rec["seq"]  # optional fields may be absent
    assert Tick.from_record(rec) == tick


@pytest.mark.parametrize("side", ["BUY", "b", " ", 1, "unknown", "none"])
def test_from_record_rejects_bad_sides(side: Any) -> None:
    with pytest.raises(ValueError, match="side"):
        Tick.from_record(dict(TICK.record(), side=side))


@pytest.mark.parametrize(
    "missing", ["symbol", "ts", "price", "volume", "turnover", "recv_ts", "src"]
)
def test_from_record_missing_required_field(missing: str) -> None:
    rec = TICK.record()
    del rec[missing]
    with pytest.raises(KeyError):
        Tick.from_record(rec)


@pytest.mark.parametrize(
    ("field", "value"), [("ts", "abc"), ("price", "x"), ("volume", None), ("seq", "1.5")]
)
def test_from_record_bad_values(field: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        Tick.from_record(dict(TICK.record(), **{field: value}))


def test_value_types_use_slots() -> None:
    for obj in (TICK, Book("00700", 1, (), (), None, 2, "x"), Event(1, "connected")):
        assert not hasattr(obj, "__dict__")
        with pytest.raises(AttributeError):
            obj.not_a_field = 1  # type: ignore[union-attr]


def test_book_record() -> None:
    book = Book("09988", 5, ((81.5, 3000), (81.45, 1200)), (), 7, 6, "alltick")
    rec = book.record()
    assert tuple(rec) == BOOK_FIELDS
    assert rec == {
        "symbol": "09988",
        "ts": 5,
        "bids": [[81.5, 3000], [81.45, 1200]],
        "asks": [],
        "seq": 7,
        "recv_ts": 6,
        "src": "alltick",
    }
    assert json.loads(json.dumps(rec)) == rec  # JSON-serialisable as is


def test_event_record() -> None:
    ev = Event(10, "disconnected", 2, {"reason": "heartbeat timeout", "attempt": 3})
    rec = ev.record()
    assert list(rec) == ["ts", "event", "shard", "reason", "attempt"]
    assert rec == {
        "ts": 10,
        "event": "disconnected",
        "shard": 2,
        "reason": "heartbeat timeout",
        "attempt": 3,
    }
    assert Event(1, "connected").record() == {"ts": 1, "event": "connected", "shard": None}


def test_event_details_are_not_shared() -> None:
    a, b = Event(1, "a"), Event(2, "b")
    a.details["x"] = 1
    assert b.details == {}
    assert a.record() == {"ts": 1, "event": "a", "shard": None, "x": 1}


ticks = st.builds(
    Tick,
    symbol=st.integers(1, 99999).map(lambda n: f"{n:05d}"),
    ts=st.integers(0, 10**13),
    price=st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
    volume=st.integers(0, 10**12),
    turnover=st.floats(min_value=0, max_value=1e15, allow_nan=False),
    side=st.sampled_from([None, "buy", "sell"]),
    seq=st.none() | st.integers(0, 2**63 - 1),
    recv_ts=st.integers(0, 10**13),
    src=st.text(min_size=1, max_size=10),
)


@settings(max_examples=200, deadline=None)
@given(ticks)
def test_property_record_round_trips(tick: Tick) -> None:
    rec = tick.record()
    assert tuple(rec) == RECORD_FIELDS
    assert tick.row() == tuple(rec.values())
    assert Tick.from_record(rec) == tick
    assert Tick.from_record(json.loads(json.dumps(rec))) == tick
    assert [Tick.from_record(r) for r in through_csv(tick)] == [tick]


@pytest.mark.parametrize(
    "rec",
    [
        [1, 2, 3],
        "00700",
        None,
        dict(TICK.record(), ts=1e20),
        dict(TICK.record(), ts=10**20),
        dict(TICK.record(), seq=2**63),
        dict(TICK.record(), seq=str(2**63)),
        dict(TICK.record(), volume=1e19),
        dict(TICK.record(), volume=10**19),
        dict(TICK.record(), price=float("nan")),
        dict(TICK.record(), price="NaN"),
        dict(TICK.record(), turnover=float("inf")),
        dict(TICK.record(), price=-1.0),
        dict(TICK.record(), recv_ts=-5),
        dict(TICK.record(), symbol=["00700"]),
        dict(TICK.record(), side=True),
    ],
)
def test_from_record_refuses_what_no_store_can_keep(rec: Any) -> None:
    """The one numbers rule (shared with AllTick frames): refused when built, not at a sink."""
    with pytest.raises(BadRecord):
        Tick.from_record(rec)


def test_book_from_record_round_trip_and_refusals() -> None:
    book = Book("09988", 5, ((81.5, 3000), (81.45, 1200)), (), 7, 6, "alltick")
    assert Book.from_record(json.loads(json.dumps(book.record()))) == book
    for bad in ([1, 2, 3], dict(book.record(), bids=[[1, 2, 3]]), dict(book.record(), ts=1e20)):
        with pytest.raises(BadRecord):
            Book.from_record(bad)  # type: ignore[arg-type]
