"""The PostgreSQL sink against a real throwaway cluster (tests/kit/services.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kit.hk import hk_env
from kit.recording import SYMBOLS, let_trades_flow, read_jsonl, subscribed
from kit.services import PgCluster
from kit.waiting import wait_until

from hkticks.errors import OutputError, UsageError
from hkticks.server import MarketServer
from hkticks.storage.sinks.postgres import COLUMNS, PostgresSink, parse_postgres_url
from hkticks.tick import RECORD_FIELDS, Tick

psycopg = pytest.importorskip("psycopg", reason="pip install 'hkticks[postgres]'")


def ticks(n: int, start: int = 0) -> list[Tick]:
    return [
        Tick(
            f"{i % 13:05d}",
            1_764_550_000_000 + i,
            10.5,
            100,
            1050.0,
            None if i % 3 else "sell",
            i,
            2,
            "t",
        )
        for i in range(start, start + n)
    ]


def rows(url: str, table: str = "ticks") -> list[tuple]:
    conninfo, _, _ = parse_postgres_url(url)
    with psycopg.connect(conninfo) as con:
        cols = ", ".join(RECORD_FIELDS)
        return list(con.execute(f"SELECT {cols} FROM {table} ORDER BY symbol, seq").fetchall())


def test_url_parsing() -> None:
    conninfo, table, shown = parse_postgres_url(
        "postgresql://me:secret@db.local:5433/hk?table=trades&sslmode=require"
    )
    assert table == "trades" and "table" not in conninfo and "sslmode=require" in conninfo
    assert "secret" not in shown and ":***@" in shown
    assert parse_postgres_url("postgres://u@h/d")[1] == "ticks"
    with pytest.raises(UsageError, match="invalid table"):
        parse_postgres_url("postgresql://u@h/d?table=x;drop")


def test_rows_equal_the_records_and_a_resent_batch_is_skipped(pg_url: str) -> None:
    url = pg_url + "?table=ticks"
    sink = PostgresSink(url)
    batch = ticks(5000)
    sink.write(batch)
    sink.write(batch[:1000])  # the same trades again: no duplicate
    sink.close()
    assert sink.rows == 6000 and sink.inserted == 5000
    assert rows(url) == sorted((t.row() for t in batch), key=lambda r: (r[0], r[6]))
    # reopening finds the table and where each symbol stopped
    again = PostgresSink(url)
    last = again.last_trades(["00000", "00012", "99999"]).found
    again.close()
    assert last == {"00000": (4992, 1_764_550_004_992), "00012": (4991, 1_764_550_004_991)}


def test_a_table_with_other_columns_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE TABLE ticks (symbol text, price numeric)")
    with pytest.raises(OutputError, match="other columns"):
        PostgresSink(pg_url)


def test_unreachable_database_is_one_line() -> None:
    from kit.ports import free_port

    with pytest.raises(OutputError, match="cannot write postgresql://.*check the address"):
        PostgresSink(f"postgresql://postgres@127.0.0.1:{free_port()}/x")


def test_db_restart_mid_run_no_loss_no_duplicate(pg_url: str, pg_cluster: PgCluster) -> None:
    sink = PostgresSink(pg_url)
    written = 0
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        nonlocal written
        try:
            while not stop.is_set():
                sink.write(ticks(500, start=written))
                written += 500
                time.sleep(0.005)  # under test: a steady writer, 500 trades every 5 ms
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_until(lambda: written >= 5000, what="writing")
        pg_cluster.restart("immediate", down_for=0.5)  # a crash: in-flight commits are lost
        at_restart = written
        wait_until(lambda: written >= at_restart + 5000, what="writing after the restart")
    finally:
        stop.set()
        t.join()
    sink.close()
    assert not errors
    assert sink.reconnects >= 1
    got = rows(pg_url)
    assert len(got) == written == len({(r[0], r[6]) for r in got})
    assert sorted(got, key=lambda r: r[6]) == [t.row() for t in ticks(written)]


def test_record_to_postgres_and_jsonl_equal_rows_through_a_db_restart(
    tmp_path: Path, pg_url: str, pg_cluster: PgCluster, server: MarketServer
) -> None:
    server.set_rate(1500.0)
    jsonl = tmp_path / "t.jsonl"
    url = pg_url + "?table=hk_ticks"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hkticks",
            "record",
            *SYMBOLS,
            "--url",
            server.ws_url,
            "--token",
            "t",
            "--plan",
            "all-hk",
            "--out",
            str(jsonl),
            "--out",
            url,
            "--duration",
            "4s",
        ],
        env=hk_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: subscribed(server), what="the subscription")
    let_trades_flow(server, 200)  # about 1 s of trades of the 4 s run
    pg_cluster.restart("immediate", down_for=0.5)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "reconnected" in err and "Traceback" not in err
    records = read_jsonl(jsonl)
    assert len(records) > 300
    expected = [tuple(r[f] for f in RECORD_FIELDS) for r in records]
    by_key = lambda r: (r[0], r[6])  # noqa: E731
    assert sorted(rows(url, "hk_ticks"), key=by_key) == sorted(expected, key=by_key)


def test_bench_postgres_counts_what_it_stored(pg_url: str) -> None:
    from hkticks.bench.servers_bench import postgres_figures

    r = postgres_figures(pg_url, ticks=5000, trials=1, batch=1000)
    assert r["rows_per_s"] > 0 and r["ticks"] == 5000
    with psycopg.connect(pg_url) as con:  # the bench table is dropped after
        left = con.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'hkticks_bench%'")
        assert left.fetchone()[0] == 0


def _day_ticks(day_ms: int, n: int) -> list[Tick]:
    return [
        Tick("00700", day_ms + i * 1000, 400.0, 100, 40_000.0, None, i, day_ms, "t")
        for i in range(1, n + 1)
    ]


def test_a_new_days_seq_reset_is_kept_and_a_resend_still_skipped(pg_url: str) -> None:
    """Unique on (symbol, trading day, seq): day 2 restarts seq and keeps every trade."""
    day1 = 1_764_727_200_000  # 2026-12-03 10:00 HKT
    day2 = day1 + 86_400_000
    sink = PostgresSink(pg_url)
    sink.write(_day_ticks(day1, 200))
    sink.write(_day_ticks(day2, 200))
    sink.write(_day_ticks(day2, 50))  # re-sent after a reconnect
    sink.close()
    assert sink.inserted == 400
    assert len(rows(pg_url)) == 400


def test_a_table_keyed_by_symbol_and_seq_alone_is_rekeyed(pg_url: str) -> None:
    cols = ", ".join(f"{n} {t}" for n, t in COLUMNS)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"CREATE TABLE ticks ({cols})")
        con.execute("CREATE UNIQUE INDEX ticks_symbol_seq_key ON ticks (symbol, seq)")
    day1 = 1_764_727_200_000
    sink = PostgresSink(pg_url)
    sink.write(_day_ticks(day1, 30))
    sink.write(_day_ticks(day1 + 86_400_000, 30))
    sink.close()
    assert len(rows(pg_url)) == 60
