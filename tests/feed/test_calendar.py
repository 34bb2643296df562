"""The HK trading calendar (market_hours) and gap records (feed/gaps): pure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hkticks.errors import ConfigError
from hkticks.feed.gap_tracker import GapTracker, gap_details, market_silence_s
from hkticks.market_hours import (
    CLOSED,
    CLOSING_AUCTION,
    HOLIDAY,
    LUNCH,
    MORNING,
    PRE_OPEN,
    calendar,
    load_calendar,
    market_session,
)
from hkticks.tick import Event

HKT = timezone(timedelta(hours=8))


def ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=HKT).timestamp() * 1000)


def test_holidays_half_days_and_weekends() -> None:
    cal = calendar()
    assert cal.years == (2025, 2028)
    assert not cal.is_trading_day("2025-12-25")  # Christmas
    assert not cal.is_trading_day("2026-02-17")  # Lunar New Year
    assert not cal.is_trading_day("2026-11-28")  # a Saturday
    assert cal.is_trading_day("2026-12-01")  # a Tuesday
    assert cal.holiday_name("2026-10-01") == "National Day"
    assert cal.covers("2026-06-01") and not cal.covers("2030-06-01")
    assert cal.is_trading_day("2030-06-03")  # outside the data: weekdays trade


def test_2028_from_the_holiday_rules() -> None:
    cal = load_calendar(None)
    days = [datetime(2028, 1, 1) + timedelta(days=i) for i in range(366)]
    closed = [
        d.strftime("%Y-%m-%d")
        for d in days
        if d.year == 2028 and d.weekday() < 5 and not cal.is_trading_day(d.strftime("%Y-%m-%d"))
    ]
    assert closed == [
        "2028-01-26",  # Lunar New Year (lunar)
        "2028-01-27",
        "2028-01-28",
        "2028-04-04",  # Ching Ming
        "2028-04-14",  # Good Friday (Easter 16 April)
        "2028-04-17",  # Easter Monday
        "2028-05-01",
        "2028-05-02",  # the Buddha's Birthday (lunar)
        "2028-05-29",  # Tuen Ng falls on a Sunday
        "2028-10-02",  # National Day falls on a Sunday
        "2028-10-04",  # the day after Mid-Autumn (lunar)
        "2028-10-26",  # Chung Yeung (lunar)
        "2028-12-25",
        "2028-12-26",
    ]
    assert cal.open_intervals("2028-01-25") == [(ms(2028, 1, 25, 9), ms(2028, 1, 25, 12, 10))]
    assert cal.is_trading_day("2028-01-03")  # New Year's Day was a Saturday: not replaced
    text = Path(__file__).resolve().parents[2] / "hkticks" / "data" / "hk_holidays.toml"
    lines = text.read_text(encoding="utf-8").splitlines()
    lunar = [ln for ln in lines if ln.startswith('"2028-') and "lunar" in ln]
    assert lunar and all("unsure" in ln for ln in lunar)
    assert any("To extend the calendar to another year" in ln for ln in lines)


def test_a_date_past_the_data_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = load_calendar(None)
    with caplog.at_level("WARNING", logger="hkticks.calendar"):
        assert cal.is_trading_day("2028-12-29")  # covered: silent
        assert not caplog.records
        assert cal.is_trading_day("2029-01-02")  # every weekday, but said so
        assert cal.is_trading_day("2029-06-01")
        cal.phase_at(ms(2029, 3, 1, 10))
    (record,) = caplog.records
    assert "holidays for 2025-2028 only: 2029" in record.getMessage()
    assert "override file" in record.getMessage()
    assert cal.beyond == {2029}


def test_sessions_full_and_half_day() -> None:
    cal = calendar()
    full = cal.sessions("2026-12-01")
    assert [p for _s, _e, p in full] == [PRE_OPEN, MORNING, "afternoon", CLOSING_AUCTION]
    assert full[0][0] == ms(2026, 12, 1, 9) and full[-1][1] == ms(2026, 12, 1, 16, 10)
    assert cal.open_intervals("2026-12-01") == [
        (ms(2026, 12, 1, 9), ms(2026, 12, 1, 12)),
        (ms(2026, 12, 1, 13), ms(2026, 12, 1, 16, 10)),
    ]
    # Christmas Eve: morning only, then the closing auction
    assert cal.open_intervals("2026-12-24") == [(ms(2026, 12, 24, 9), ms(2026, 12, 24, 12, 10))]
    assert cal.phase_at(ms(2026, 12, 24, 12, 5)) == CLOSING_AUCTION
    assert cal.phase_at(ms(2026, 12, 24, 13, 30)) == CLOSED
    assert cal.phase_at(ms(2026, 12, 25, 10)) == HOLIDAY
    assert cal.sessions("2026-12-25") == []
    assert cal.phase_at(ms(2026, 12, 1, 12, 30)) == LUNCH
    assert not cal.is_open(ms(2026, 12, 1, 12, 30)) and cal.is_open(ms(2026, 12, 1, 13, 0))


def test_market_session_skips_holidays() -> None:
    # Wednesday 30 Sep 2026 after the close: Thursday 1 Oct is National Day
    s = market_session(ms(2026, 9, 30, 17) / 1000)
    assert s.next_change == ms(2026, 10, 2, 9) / 1000
    lny = market_session(ms(2026, 2, 18, 10) / 1000)
    assert lny.phase == HOLIDAY and not lny.trading
    assert lny.next_change == ms(2026, 2, 20, 9) / 1000


def test_trim_and_trading_ms_between() -> None:
    cal = calendar()
    a, b = ms(2026, 12, 1, 11, 59), ms(2026, 12, 1, 13, 1)
    assert cal.trim(a, b) == [(a, ms(2026, 12, 1, 12)), (ms(2026, 12, 1, 13), b)]
    assert cal.trading_ms_between(a, b) == 120_000
    # after the close to the next morning
    assert cal.trading_ms_between(ms(2026, 12, 1, 16, 5), ms(2026, 12, 2, 9, 1)) == 6 * 60_000
    # over a holiday and a weekend
    assert cal.trading_ms_between(ms(2026, 12, 24, 12, 10), ms(2026, 12, 28, 9)) == 0
    assert cal.trading_ms_between(b, a) == 0


def test_override_file(tmp_path: Path) -> None:
    f = tmp_path / "holidays.toml"
    f.write_text(
        'closed = ["2026-12-02"]\nopen = []\n'
        '[half_days]\n"2026-12-03" = "typhoon signal 8 from noon"\n'
    )
    cal = load_calendar(f)
    assert not cal.is_trading_day("2026-12-02")
    assert cal.open_intervals("2026-12-03")[-1][1] == ms(2026, 12, 3, 12, 10)
    assert str(f) in cal.sources
    f.write_text('open = ["2026-12-25"]\n')
    assert load_calendar(f).is_trading_day("2026-12-25")
    f.write_text('closed = ["2026-13-01"]\n')
    with pytest.raises(ConfigError, match="not a date"):
        load_calendar(f)
    f.write_text("typo = 1\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_calendar(f)
    f.write_text("closed = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_calendar(f)
    assert load_calendar(tmp_path / "absent.toml").is_trading_day("2026-12-02")


def test_gap_tracker_one_event_per_outage_trimmed_to_trading_time() -> None:
    cal = calendar()
    out: list[Event] = []
    g = GapTracker(3, lambda: ["00700", "09988"], out.append, cal)
    g.up(ms(2026, 12, 1, 10))  # nothing open: nothing written
    g.down(ms(2026, 12, 1, 11, 59), "closed by server")
    g.down(ms(2026, 12, 1, 12, 30), "second drop, same outage")
    g.resubscribed(ms(2026, 12, 1, 13, 0, 30))
    g.up(ms(2026, 12, 1, 13, 1))
    g.up(ms(2026, 12, 1, 13, 2))
    assert len(out) == 1 and g.gaps == 1
    ev = out[0]
    assert ev.event == "gap" and ev.shard == 3
    d = ev.details
    assert d["cause"] == "closed by server" and d["symbols"] == ["00700", "09988"]
    assert (d["start"], d["end"], d["trading_ms"]) == (
        ms(2026, 12, 1, 11, 59),
        ms(2026, 12, 1, 13, 1),
        120_000,
    )
    assert len(d["parts"]) == 2 and d["resubscribed"] == ms(2026, 12, 1, 13, 0, 30)
    # an outage still open when the session stops ends there
    g.down(ms(2026, 12, 1, 15), "refused: plan too small")
    g.finish(ms(2026, 12, 1, 15, 0, 5))
    assert out[-1].details["open_at_stop"] is True and out[-1].details["trading_ms"] == 5000


def test_gap_resubscribed_at_night_ends_there() -> None:
    out: list[Event] = []
    g = GapTracker(0, lambda: ["00700"], out.append, calendar())
    g.down(ms(2026, 12, 1, 15, 59), "reset")
    g.resubscribed(ms(2026, 12, 1, 22))  # back at night: the first trade comes at 09:20
    g.up(ms(2026, 12, 2, 9, 20))
    d = out[0].details
    assert d["trading_ms"] == 11 * 60_000  # 15:59-16:10 only, not the next pre-opening
    assert d["end"] == ms(2026, 12, 1, 16, 10)


def test_gap_wholly_outside_trading_time_and_without_calendar() -> None:
    cal = calendar()
    night = gap_details(ms(2026, 12, 1, 20), ms(2026, 12, 1, 21), "x", [], cal)
    assert night["trading_ms"] == 0 and night["start"] == ms(2026, 12, 1, 20)
    raw = gap_details(5, 10, "x", ["00700"], None)
    assert (raw["start"], raw["end"], raw["trading_ms"]) == (5, 10, 5)
    # trimmed at the close: the raw times are kept beside
    close = gap_details(ms(2026, 12, 1, 16), ms(2026, 12, 1, 17), "x", [], cal)
    assert close["end"] == ms(2026, 12, 1, 16, 10) and close["raw_end"] == ms(2026, 12, 1, 17)


def test_market_silence_ignores_lunch() -> None:
    cal = calendar()
    assert market_silence_s(cal, ms(2026, 12, 1, 12, 50), 600) == 0
    assert market_silence_s(cal, ms(2026, 12, 1, 13, 0, 20), 600) == 20
    assert market_silence_s(None, 0, 42.5) == 42.5


def test_validate_reports_a_year_past_the_calendar() -> None:
    from hkticks.analysis.validate import Options, Validator
    from hkticks.tick import Tick

    v = Validator(Options(calendar=load_calendar(None)))
    for i, when in enumerate((ms(2028, 12, 29, 10), ms(2029, 1, 2, 10), ms(2029, 1, 2, 10, 1))):
        v.add(Tick("00700", when, 400.0, 100, 40_000.0, "buy", i + 1, when + 5, "alltick"))
    report = v.finish()
    assert report.calendar_note is not None
    assert "holidays for 2025-2028 only: 2029" in report.calendar_note
    assert report.record()["calendar_note"] == report.calendar_note
    covered = Validator(Options(calendar=load_calendar(None)))
    covered.add(Tick("00700", ms(2028, 12, 29, 10), 400.0, 100, 4e4, None, 1, 0, "alltick"))
    assert covered.finish().calendar_note is None


def test_validate_says_so_on_screen(tmp_path: Path) -> None:
    import orjson
    from click.testing import CliRunner

    from hkticks.cli import cli
    from hkticks.tick import Tick

    rec = tmp_path / "2029.jsonl"
    rows = [
        Tick("00700", ms(2029, 1, 2, 10, 0, i), 400.0, 100, 4e4, "buy", i + 1, 0, "alltick")
        for i in range(3)
    ]
    rec.write_bytes(b"".join(orjson.dumps(t.record()) + b"\n" for t in rows))
    table = CliRunner().invoke(cli, ["validate", str(rec)])
    assert "holidays for 2025-2028 only: 2029" in " ".join(table.stdout.split()), table.output
    as_json = CliRunner().invoke(cli, ["validate", str(rec), "--json"])
    assert "2029" in orjson.loads(as_json.stdout)["calendar_note"]
