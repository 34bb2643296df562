"""The Symbol Service: fetching, validating, merging and caching the Stock
Connect lists, suspension marks, and the universe API, against a real local
HTTP server (tests/kit/exchange.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest
from kit.exchange import TOKEN, Behaviour, FakeExchange, FakeStock, make_stocks

from hkticks import config
from hkticks.errors import SourceError
from hkticks.symbols import sources
from hkticks.symbols import universe as symbols
from hkticks.symbols.sources import ListError, ListRow

FAST = {"timeout": 1.0, "retries": 2, "backoff": 0.0}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in (
        "HKTICKS_TOKEN",
        "ALLTICK_TOKEN",
        "HKTICKS_SSE_URL",
        "HKTICKS_SZSE_URL",
        "HKTICKS_REST_URL",
        "HKTICKS_URL",
        "HKTICKS_PLAN",
        "HKTICKS_CONFIG",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def settings_for(
    fx: FakeExchange, *, token: str | None = TOKEN, demo: bool = False, plan: str = "all-hk"
) -> config.Settings:
    return config.Settings(
        token=token,
        token_source="HKTICKS_TOKEN" if token else None,
        url="ws://127.0.0.1:1/quote-stock-b-ws-api",
        rest_url=fx.rest_url,
        plan=plan,
        sse_url=fx.sse_url,
        szse_url=fx.szse_url,
        demo=demo,
    )


def expected_codes(fx: FakeExchange) -> list[str]:
    return sorted(s.code for s in fx.stocks)


# ---------------------------------------------------------------------------
# Pure parts


def test_clean_name_strips_full_width_spaces_and_markup() -> None:
    assert sources.clean_name("腾讯控股\u3000") == "腾讯控股"
    assert sources.clean_name(" 长\u3000和 ") == "长和"
    assert sources.clean_name("CK  HUTCHISON ") == "CK HUTCHISON"
    assert sources.clean_name("<u>TENCENT</u> &amp; CO") == "TENCENT & CO"
    assert sources.clean_name(None) == ""


@pytest.mark.parametrize(
    ("raw", "code"),
    [("700", "00700"), ("00700", "00700"), ("9988", "09988"), ("<a>5</a>", "00005")],
)
def test_clean_code_accepts_hk_codes(raw: str, code: str) -> None:
    assert sources.clean_code(raw) == code


@pytest.mark.parametrize("raw", ["123456", "ABC", "0", "00000", "", None, "7 00", "700.HK"])
def test_clean_code_rejects_everything_else(raw: object) -> None:
    with pytest.raises(sources.BadList):
        sources.clean_code(raw)


@pytest.mark.parametrize(
    "raw", ["2026-11-20", "20261120", "2026/11/20 00:00:00", "2026年11月20日", " 2026-11-20 "]
)
def test_parse_date_variants(raw: str) -> None:
    assert sources.parse_date(raw) == "2026-11-20"


@pytest.mark.parametrize("raw", ["", "yesterday", "2026-13-40", None])
def test_parse_date_rejects_garbage(raw: object) -> None:
    with pytest.raises(sources.BadList):
        sources.parse_date(raw)


def test_validate_checks_count_length_dates_and_duplicates() -> None:
    rows = [ListRow(f"{i:05d}", f"名{i}", f"N{i}") for i in range(1, 121)]
    today = dt.date(2026, 11, 24)
    ok = sources.validate("SSE", rows, 120, "2026-11-24", today=today)
    assert len(ok.rows) == 120 and ok.date == "2026-11-24"
    with pytest.raises(sources.BadList, match="got 120 rows but the list says 121"):
        sources.validate("SSE", rows, 121, "2026-11-24", today=today)
    with pytest.raises(sources.BadList, match="at least 100"):
        sources.validate("SSE", rows[:99], 99, "2026-11-24", today=today)
    with pytest.raises(sources.BadList, match="future"):
        sources.validate("SSE", rows, 120, "2026-12-24", today=today)
    clash = rows[:-1] + [ListRow("00001", "别名", "OTHER")]
    with pytest.raises(sources.BadList, match="twice"):
        sources.validate("SSE", clash, 120, "2026-11-24", today=today)


def test_source_urls_must_be_http() -> None:
    with pytest.raises(ListError, match="not an http"):
        sources.fetch_list("SZSE", "ftp://example.org/list", **FAST)


def test_with_params_replaces_or_appends() -> None:
    url = sources.with_params("http://h/p?a=1&PAGENO=1&b=2", PAGENO="3")
    assert url == "http://h/p?a=1&b=2&PAGENO=3"
    assert sources.with_params("http://h/p", PAGENO="2") == "http://h/p?PAGENO=2"


def test_merge_records_channels_and_prefers_sse_names() -> None:
    sse = sources.SourceList(
        "SSE", "2026-11-24", (ListRow("00700", "腾讯控股", "TENCENT"), ListRow("00001", "长和", ""))
    )
    szse = sources.SourceList(
        "SZSE",
        "2026-11-24",
        (
            ListRow("00700", "腾讯", "TENCENT HOLDINGS"),
            ListRow("00001", "长和", "CKH HOLDINGS"),
            ListRow("02333", "长城汽车", "GREATWALL MOTOR"),
        ),
    )
    merged = {s.code: s for s in symbols.merge({"SSE": sse, "SZSE": szse})}
    assert merged["00700"] == symbols.StockInfo("00700", "腾讯控股", "TENCENT", ("SH", "SZ"))
    assert merged["00001"].name_en == "CKH HOLDINGS"  # filled in from SZSE
    assert merged["02333"].channels == ("SZ",)
    assert list(merged) == sorted(merged)


# ---------------------------------------------------------------------------
# Fetching the lists


def test_fetch_sse_sends_referer_and_browser_agent(exchange: FakeExchange) -> None:
    lst = sources.fetch_list("SSE", exchange.sse_url, **FAST)
    assert len(lst.rows) == len(exchange.sse_rows())
    assert lst.date == exchange.today.isoformat()
    by_code = {r.code: r for r in lst.rows}
    assert by_code["00700"].name_cn == "腾讯控股"  # the U+3000 is gone
    hit = exchange.hits("/commonQuery.do")[0]
    assert hit.headers["Referer"] == sources.REFERERS["SSE"]
    assert hit.headers["User-Agent"].startswith("Mozilla/5.0")


def test_fetch_sse_walks_pages(exchange: FakeExchange) -> None:
    exchange.sse_page_size = 60
    lst = sources.fetch_list("SSE", exchange.sse_url, **FAST)
    assert lst.pages == 3
    assert sorted(r.code for r in lst.rows) == sorted(
        r["SECURITY_CODE"] for r in exchange.sse_rows()
    )
    pages = [h.params["pageHelp.pageNo"] for h in exchange.hits("/commonQuery.do")]
    assert pages == ["1", "2", "3"]


def test_fetch_szse_walks_every_page(exchange: FakeExchange) -> None:
    lst = sources.fetch_list("SZSE", exchange.szse_url, **FAST)
    n = len(exchange.szse_rows())
    assert len(lst.rows) == n
    assert lst.pages == -(-n // 20)
    assert [h.params["PAGENO"] for h in exchange.hits("/api/")] == [
        str(i) for i in range(1, lst.pages + 1)
    ]


def test_a_refusal_is_reported_and_not_retried(exchange: FakeExchange) -> None:
    # what SSE answers when the Referer is missing: retrying will not change it
    exchange.sse = Behaviour("status", status=403)
    with pytest.raises(ListError, match=r"HTTP 403 .*Referer") as err:
        sources.fetch_list("SSE", exchange.sse_url, **FAST)
    assert err.value.source == "SSE"
    assert len(exchange.hits("/commonQuery.do")) == 1


def test_transient_failures_are_retried(exchange: FakeExchange) -> None:
    exchange.sse = Behaviour("status", status=503, times=2)
    exchange.szse = Behaviour("html", times=1, page=3)
    lists = sources.fetch_both({"SSE": exchange.sse_url, "SZSE": exchange.szse_url}, **FAST)
    assert len(lists["SSE"].rows) == len(exchange.sse_rows())
    assert len(lists["SZSE"].rows) == len(exchange.szse_rows())
    assert len(exchange.hits("/commonQuery.do")) == 3


def test_date_change_while_paging_restarts_the_walk(exchange: FakeExchange) -> None:
    exchange.szse = Behaviour("date_change", times=1, page=4)
    lst = sources.fetch_list("SZSE", exchange.szse_url, **FAST)
    assert len(lst.rows) == len(exchange.szse_rows())
    pages = [h.params["PAGENO"] for h in exchange.hits("/api/")]
    assert pages[:5] == ["1", "2", "3", "4", "1"]  # gave up at page 4, started again


def test_timeout_is_bounded_and_reported(exchange: FakeExchange) -> None:
    exchange.sse = Behaviour("slow", delay=5.0)
    with pytest.raises(ListError, match=r"timed out after 0.3 s, 2 tries"):
        sources.fetch_list("SSE", exchange.sse_url, timeout=0.3, retries=1, backoff=0.0)


def test_trickling_answer_hits_the_overall_deadline(exchange: FakeExchange) -> None:
    # 64 bytes every 0.1 s: no single read times out, the whole answer would take ~minutes
    exchange.sse = Behaviour("trickle", delay=0.1)
    with pytest.raises(ListError, match="timed out"):
        sources.fetch_list("SSE", exchange.sse_url, timeout=0.5, retries=0, backoff=0.0)


# ---------------------------------------------------------------------------
# Refresh and cache


def test_refresh_merges_writes_cache_and_searches(exchange: FakeExchange, tmp_path: Path) -> None:
    uni = symbols.refresh_universe(settings_for(exchange), **FAST)
    path = tmp_path / "cache" / "hkticks" / "symbols.json"
    assert uni.path == path and path.exists()
    assert [s.code for s in uni.stocks] == expected_codes(exchange)
    tencent = uni.get("700.HK")
    assert tencent == symbols.StockInfo("00700", "腾讯控股", "TENCENT", ("SH", "SZ"))
    assert [s.code for s in uni.search("tencent")] == ["00700"]
    assert [s.code for s in uni.search("腾讯")] == ["00700"]
    assert uni.search("pingan")[0].code == "02318"
    assert [s.code for s in uni.search("阿里巴巴-w")] == ["09988"]  # full-width －Ｗ folded
    assert uni.search("0700.HK")[0].code == "00700"
    want = {c: [s.code for s in exchange.stocks if c in s.channels] for c in ("SH", "SZ")}
    assert uni.codes(channel="sh") == sorted(want["SH"])
    assert uni.codes(channel="SZ") == sorted(want["SZ"])
    assert uni.sources == {"SSE": exchange.sse_date, "SZSE": exchange.szse_date}
    cached = symbols.read_cache(path)
    assert cached is not None and cached.stocks == uni.stocks and cached.sources == uni.sources
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "symbols.json"]
    assert leftovers == []  # the temporary file was renamed, not left behind


BROKEN = {
    "broken page": ("szse", Behaviour("html", page=3), "HTML page"),
    "truncated page": ("sse", Behaviour("truncated"), "not valid JSON"),
    "short list": ("sse", Behaviour("short"), "only 50 rows"),
    "count mismatch": ("szse", Behaviour("count"), "rows but the list says"),
    "date change": ("szse", Behaviour("date_change", page=4), "date changed while paging"),
    "sse dates differ": ("sse", Behaviour("date_change"), "different dates"),
    "timeout": ("sse", Behaviour("slow", delay=5.0), "timed out after 0.3 s, 2 tries"),
    "server error": ("szse", Behaviour("status", status=502), "HTTP 502"),
    "bad code": ("szse", Behaviour("bad_code", page=2), "invalid code"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_bad_source_never_destroys_the_cache(exchange: FakeExchange, case: str) -> None:
    settings = settings_for(exchange)
    good = symbols.refresh_universe(settings, **FAST)
    assert good.path is not None
    before = good.path.read_bytes()
    source, behaviour, reason = BROKEN[case]
    setattr(exchange, source, behaviour)
    exchange.stocks.append(FakeStock("06666", "新股", "NEW ONE", ("SH", "SZ")))
    with pytest.raises(SourceError) as err:
        symbols.refresh_universe(settings, timeout=0.3, retries=1, backoff=0.0)
    message = str(err.value)
    assert reason in message
    assert f"could not fetch the {source.upper()} list" in message
    assert f"kept the cached list from {symbols.hk_date(good.fetched_at)}" in message
    assert "(under a minute old)" in message  # says how old it is
    assert "\n" not in message
    assert err.value.exit_code == 6
    assert good.path.read_bytes() == before
    again = symbols.load_universe(settings)
    assert "06666" not in again.codes(include_suspended=True)
    assert again.codes(include_suspended=True) == good.codes(include_suspended=True)


def test_no_cache_and_failure_says_what_to_do(exchange: FakeExchange) -> None:
    exchange.sse = Behaviour("status", status=500)
    exchange.szse = Behaviour("html", page=1)
    with pytest.raises(SourceError) as err:
        symbols.load_universe(settings_for(exchange), warn=lambda m: None)
    message = str(err.value)
    assert "SSE: HTTP 500" in message and "SZSE: got an HTML page" in message
    assert "HKTICKS_SSE_URL" in message and "hkticks symbols --refresh" in message
    assert not symbols.cache_path().exists()


def test_load_fetches_once_then_reads_the_cache(exchange: FakeExchange) -> None:
    notes: list[str] = []
    settings = settings_for(exchange, token=None)
    first = symbols.load_universe(settings, warn=notes.append)
    hits = len(exchange.seen)
    assert any("fetching it" in n for n in notes)
    second = symbols.load_universe(settings, warn=notes.append)
    assert len(exchange.seen) == hits  # no network the second time
    assert second.stocks == first.stocks


def test_load_without_refresh_explains(exchange: FakeExchange) -> None:
    with pytest.raises(SourceError, match=r"run `hkticks symbols --refresh --demo`"):
        symbols.load_universe(settings_for(exchange, demo=True), refresh_if_missing=False)
    assert exchange.seen == []


def test_stale_cache_warns(exchange: FakeExchange) -> None:
    settings = settings_for(exchange, token=None)
    uni = symbols.refresh_universe(settings, **FAST)
    notes: list[str] = []
    symbols.load_universe(settings, warn=notes.append, now=uni.fetched_at + 6 * 86400)
    assert notes == []
    symbols.load_universe(settings, warn=notes.append, now=uni.fetched_at + 8 * 86400)
    assert len(notes) == 1 and "8 days old" in notes[0] and "--refresh" in notes[0]


def test_corrupt_cache_is_replaced_after_a_warning(exchange: FakeExchange) -> None:
    path = symbols.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    notes: list[str] = []
    uni = symbols.load_universe(settings_for(exchange, token=None), warn=notes.append)
    assert any("ignoring the symbol cache" in n for n in notes)
    assert len(uni) == len(exchange.stocks)
    assert symbols.read_cache(path) is not None


def test_demo_uses_its_own_cache(exchange: FakeExchange) -> None:
    real = symbols.refresh_universe(settings_for(exchange, token=None), **FAST)
    before = symbols.cache_path().read_bytes()
    exchange.stocks = make_stocks(120)
    demo = symbols.refresh_universe(settings_for(exchange, token=None, demo=True), **FAST)
    assert demo.path == symbols.cache_path(demo=True) != real.path
    assert demo.path is not None and demo.path.name == "demo-symbols.json"
    assert symbols.cache_path().read_bytes() == before
    assert len(symbols.load_universe(settings_for(exchange, demo=True))) == 120
    assert len(symbols.load_universe(settings_for(exchange))) == 150


def test_cache_honours_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    assert symbols.cache_path() == tmp_path / "elsewhere" / "hkticks" / "symbols.json"


def test_unwritable_cache_dir_is_a_clear_error(exchange: FakeExchange, tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(Exception) as err:
        symbols.refresh_universe(settings_for(exchange, token=None), **FAST)
    assert "cannot write the symbol cache" in str(err.value)
    assert getattr(err.value, "exit_code", None) == 5


# ---------------------------------------------------------------------------
# Suspensions


def test_previous_trading_day_skips_weekends_and_holidays() -> None:
    assert symbols.previous_trading_day(dt.date(2026, 11, 23)) == dt.date(2026, 11, 20)  # Mon->Fri
    assert symbols.previous_trading_day(dt.date(2026, 11, 25)) == dt.date(2026, 11, 24)
    assert symbols.previous_trading_day(dt.date(2026, 11, 22)) == dt.date(2026, 11, 20)  # Sun
    # Thu after Lunar New Year (Tue-Thu 17-19 Feb 2026) -> Mon 16 Feb
    assert symbols.previous_trading_day(dt.date(2026, 2, 20)) == dt.date(2026, 2, 16)
    assert symbols.previous_trading_day(dt.date(2026, 12, 28)) == dt.date(2026, 12, 24)


def _hk_epoch(y: int, m: int, d: int, h: int = 10) -> float:
    return dt.datetime(y, m, d, h, tzinfo=symbols.HK_TZ).timestamp()


def test_suspension_cutoff_never_after_the_markets_latest_trade() -> None:
    now = _hk_epoch(2026, 11, 25)  # Wednesday
    days = [dt.date(2026, 11, 25), dt.date(2026, 11, 24), dt.date(2026, 11, 2)]
    assert symbols.suspension_cutoff(now, days) == dt.date(2026, 11, 24)
    # nothing traded on the 24th or 25th (a closure we do not know about)
    closed = [dt.date(2026, 11, 23), dt.date(2026, 11, 2)]
    assert symbols.suspension_cutoff(now, closed) == dt.date(2026, 11, 23)
    assert symbols.suspension_cutoff(now, []) == dt.date(2026, 11, 24)


def test_refresh_marks_suspended_stocks(exchange: FakeExchange) -> None:
    for code in ("01002", "01010", "01044"):
        exchange.trade_age_s[code] = 10 * 86400
    exchange.no_trade.add("01003")
    notes: list[str] = []
    uni = symbols.refresh_universe(settings_for(exchange), warn=notes.append, **FAST)
    assert {s.code for s in uni.stocks if s.suspended} == {"01002", "01010", "01044"}
    assert uni.suspended_count == 3
    assert "01002" not in uni.codes()
    assert "01002" in uni.codes(include_suspended=True)
    assert len(uni.codes()) == len(exchange.stocks) - 3
    assert uni.suspended_checked_at is not None
    assert set(uni.last_traded) == {"01002", "01010", "01044"}
    assert any("no trade data for 1 stocks" in n for n in notes)
    calls = exchange.hits("/quote-stock-b-api/trade-tick")
    assert len(calls) == 3  # 150 codes, 50 per call
    assert all(c.params["token"] == TOKEN for c in calls)
    cached = symbols.load_universe(settings_for(exchange))
    assert {s.code for s in cached.stocks if s.suspended} == {"01002", "01010", "01044"}
    assert cached.last_traded == uni.last_traded


def test_marks_survive_a_refresh_without_token(exchange: FakeExchange) -> None:
    exchange.trade_age_s["01002"] = 10 * 86400
    symbols.refresh_universe(settings_for(exchange), **FAST)
    notes: list[str] = []
    uni = symbols.refresh_universe(settings_for(exchange, token=None), warn=notes.append, **FAST)
    assert [s.code for s in uni.stocks if s.suspended] == ["01002"]
    assert any("no AllTick token" in n for n in notes)


def test_rejected_token_keeps_marks_and_still_saves_lists(exchange: FakeExchange) -> None:
    exchange.trade_age_s["01002"] = 10 * 86400
    symbols.refresh_universe(settings_for(exchange), **FAST)
    exchange.trade_age_s.clear()
    exchange.stocks.append(FakeStock("06666", "新股", "NEW ONE", ("SH", "SZ")))
    notes: list[str] = []
    bad = config.Settings(**{**settings_for(exchange).__dict__, "token": "wrong-token-XYZ"})
    uni = symbols.refresh_universe(bad, warn=notes.append, **FAST)
    assert "06666" in uni.codes()
    assert [s.code for s in uni.stocks if s.suspended] == ["01002"]
    failed = [n for n in notes if "suspension check failed" in n]
    assert failed and "token rejected" in failed[0] and "wrong-token-XYZ" not in failed[0]
    assert "06666" in symbols.load_universe(settings_for(exchange)).codes()


def test_universe_get_and_channel_validation(exchange: FakeExchange) -> None:
    uni = symbols.refresh_universe(settings_for(exchange, token=None), **FAST)
    assert uni.get("HK.00700") is not None and uni.get("99999") is None and uni.get("junk") is None
    with pytest.raises(Exception, match="invalid channel"):
        uni.codes(channel="hk")


def test_cache_file_is_valid_json_with_dates(exchange: FakeExchange) -> None:
    uni = symbols.refresh_universe(settings_for(exchange), **FAST)
    assert uni.path is not None
    obj = orjson.loads(uni.path.read_bytes())
    assert obj["version"] == 1 and obj["count"] == len(exchange.stocks)
    assert obj["sources"] == {"SSE": exchange.sse_date, "SZSE": exchange.szse_date}
    assert abs(obj["fetched_at"] - uni.fetched_at) < 1e-6
    assert TOKEN not in uni.path.read_text(encoding="utf-8")
