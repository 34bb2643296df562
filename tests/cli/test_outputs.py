"""The output spec: an ``--out`` parsed once (kind, rotation template, the name shown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hkticks.errors import OutputError, UsageError
from hkticks.run.outputs import (
    FILE,
    NATS,
    POSTGRES,
    STDOUT,
    RecordOutputs,
    kind_of,
    parse_file_target,
    parse_output,
)
from hkticks.storage.sinks.rotating import parse_rotate


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("-", STDOUT),
        ("t.jsonl", FILE),
        ("dir/t-{date}.csv.gz", FILE),
        ("nats://h:4222/hk", NATS),
        ("TLS://h:4222/hk", NATS),
        ("postgresql://u@h/db", POSTGRES),
        ("postgres://u@h/db?table=t", POSTGRES),
        ("ftp-like:name.jsonl", FILE),
    ],
)
def test_kind_of(text: str, kind: str) -> None:
    assert kind_of(text) == kind


def test_the_shown_name_never_holds_a_secret() -> None:
    out = parse_output("postgresql://u:Pw9@h/db?table=ticks")
    assert out.is_server and out.shown == "postgresql://u:***@h/db?table=ticks"
    assert parse_output("nats://Tok9@h:4222/hk").shown == "nats://***@h:4222/hk"
    assert parse_output("-").shown == "stdout"
    assert "Pw9" in out.text  # what connects keeps it


def test_a_file_gets_its_rotation_template_once() -> None:
    out = parse_output("ticks.jsonl.gz", rotate=parse_rotate("daily"))
    assert out.template == "ticks-{date}.jsonl.gz" and out.shown == "ticks-{date}.jsonl.gz"
    assert out.name == "ticks-{date}.jsonl.gz"
    assert parse_output("ticks.jsonl").template is None
    with pytest.raises(UsageError, match="unknown placeholder"):
        parse_output("t-{month}.jsonl")


@pytest.mark.parametrize(
    ("option", "rotate", "words"),
    [
        ("--out", "daily", "--rotate applies to files"),
        ("--book-out", None, "--book-out takes a file"),
        ("--events", None, "--events takes a file"),
    ],
)
def test_servers_are_tick_outputs_that_do_not_rotate(
    option: str, rotate: str | None, words: str
) -> None:
    with pytest.raises(UsageError, match=words) as exc:
        parse_output("postgresql://u:Pw8@h/db", option, parse_rotate(rotate) if rotate else None)
    assert "Pw8" not in str(exc.value)


def test_record_outputs_name_the_sidecar_after_the_first_file() -> None:
    outs = RecordOutputs.parse(["-", "nats://h:4222/hk", "a.csv", "b.jsonl"])
    assert outs.events is not None and outs.events.text == "a.csv.events.jsonl"
    assert not outs.events_follow and outs.file_names() == ["a.csv", "b.jsonl"]
    rot = RecordOutputs.parse(["t.jsonl"], rotate="hourly")
    assert rot.events is not None and rot.events_follow
    assert rot.events.template == "t-{date}-{hour}.jsonl.events.jsonl"
    assert RecordOutputs.parse(["-"]).events is None  # no file: no sidecar
    given = RecordOutputs.parse(["t.jsonl"], events="e.jsonl")
    assert given.events is not None and given.events.text == "e.jsonl"


@pytest.mark.parametrize(
    ("outs", "extra"),
    [
        (["a.jsonl", "./a.jsonl"], {}),
        (["a.jsonl"], {"book_out": "a.jsonl"}),
        (["a.jsonl"], {"events": "a.jsonl"}),
        (["postgresql://u:Pw7@h/db", "postgresql://u:Pw7@h/db"], {}),
    ],
)
def test_one_output_named_twice_is_refused(outs: list[str], extra: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="named twice") as exc:
        RecordOutputs.parse(outs, **extra)
    assert "Pw7" not in str(exc.value)


def test_stdout_once_and_at_least_one_output() -> None:
    with pytest.raises(UsageError, match="once"):
        RecordOutputs.parse(["-", "-"])
    with pytest.raises(UsageError, match="at least one"):
        RecordOutputs.parse([])


def test_check_before_connecting_and_open_all_or_none(tmp_path: Path) -> None:
    good, bad = str(tmp_path / "a.jsonl"), str(tmp_path / "no" / "b.csv")
    with pytest.raises(OutputError, match="does not exist"):
        RecordOutputs.parse([good, bad]).check()
    assert not (tmp_path / "a.jsonl").exists()  # the check leaves no file behind
    outs = RecordOutputs.parse([good, str(tmp_path / "c.csv")])
    outs.check()
    opened = outs.open()
    try:
        assert [s.path for s in opened.ticks] == [good, str(tmp_path / "c.csv")]
        assert opened.events is not None and opened.events.path == good + ".events.jsonl"
    finally:
        opened.close()


def test_compact_to_a_server_is_refused() -> None:
    assert parse_file_target("archive", "--to") == "archive"
    with pytest.raises(UsageError, match="local folder") as exc:
        parse_file_target("postgresql://u:Pw6@h/db", "--to")
    assert "Pw6" not in str(exc.value)
