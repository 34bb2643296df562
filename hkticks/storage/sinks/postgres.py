"""The PostgreSQL / TimescaleDB sink: ``--out postgresql://user@host/db?table=ticks``.

Each batch is copied (``COPY ... FROM STDIN``, psycopg 3) into a temporary
staging table and moved into the table with ``INSERT ... ON CONFLICT DO
NOTHING`` on the trade's identity (symbol, trading day, seq: see
:func:`hkticks.feed.dedup.trade_identity`), in one transaction. So a batch is all or
nothing, and sending a batch again is harmless: a trade already stored is
skipped. That is what makes a database restart safe: when the connection
drops the sink reconnects (with capped back-off, for up to ``retry_for``
seconds) and replays the batch that was not acknowledged by its commit.

The table is created when missing, with the columns of every other format
(``RECORD_FIELDS``); when the ``timescaledb`` extension is installed in the
database it becomes a hypertable on ``ts`` (epoch milliseconds, one chunk
per day) and its unique index is on (symbol, seq, ts), as TimescaleDB
requires its partitioning column itself in a unique index (a re-sent trade
carries its time: the same trade still). A table made by an earlier hkticks
with the unique index on (symbol, seq) alone (which drops the next day's
trades once seq restarts) has that index replaced.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Collection, Sequence
from operator import attrgetter
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hkticks.alltick.urls import redact
from hkticks.errors import OutputError, UsageError
from hkticks.feed.dedup import DAY_MS, HKT_OFFSET_MS
from hkticks.storage.resume import LastTrades
from hkticks.tick import RECORD_FIELDS

log = logging.getLogger("hkticks.storage.sinks.postgres")

COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "text"),
    ("ts", "bigint"),
    ("price", "double precision"),
    ("volume", "bigint"),
    ("turnover", "double precision"),
    ("side", "text"),
    ("seq", "bigint"),
    ("recv_ts", "bigint"),
    ("src", "text"),
)
assert tuple(name for name, _ in COLUMNS) == RECORD_FIELDS

# the trading day of ``ts`` in SQL: the same day as hkticks.feed.dedup.trading_day
DAY_SQL = f"((ts + {HKT_OFFSET_MS}) / {DAY_MS})"
RETRY_FOR_S = 300.0
_TABLE = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")
_row = attrgetter(*RECORD_FIELDS)


def import_psycopg(option: str = "--out") -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError(
            f"{option} postgresql://... needs psycopg 3: pip install 'hkticks[postgres]'"
        ) from None
    return psycopg


def parse_postgres_url(url: str) -> tuple[str, str, str]:
    """``(conninfo for psycopg, table, URL shown without a password)``."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise UsageError(
            f"invalid PostgreSQL address {redact(url)!r}: it must start with postgresql://"
        )
    params = parse_qsl(parts.query, keep_blank_values=True)
    table = "ticks"
    rest = []
    for key, value in params:
        if key == "table":
            table = value
        else:
            rest.append((key, value))
    if not _TABLE.match(table):
        raise UsageError(
            f"invalid table {table!r} in {redact(url.split('?')[0])}: use letters, digits and _ "
            "(optionally schema.table), e.g. ?table=ticks"
        )
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
    shown = redact(urlunsplit((parts.scheme, parts.netloc, parts.path, f"table={table}", "")))
    return conninfo, table, shown


def check_postgres_output(url: str, option: str = "--out") -> None:
    parse_postgres_url(url)
    import_psycopg(option)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PostgresSink:
    """Ticks into a PostgreSQL table, one transaction per batch (COPY + ON CONFLICT)."""

    repaired_bytes = 0

    def __init__(
        self,
        url: str,
        *,
        what: str = "ticks",
        retry_for: float = RETRY_FOR_S,
        connect_timeout: float = 5.0,
    ) -> None:
        self._pg = import_psycopg()
        self._conninfo, self.table, self.path = parse_postgres_url(url)
        self.what = what
        self.rows = 0  # trades written (stored now, or already there)
        self.inserted = 0  # rows this run added
        self.reconnects = 0
        self.replayed = 0
        self.retry_for = retry_for
        self.connect_timeout = connect_timeout
        self.hypertable = False
        self._closed = False
        self._failure: OutputError | None = None
        self._interrupted = threading.Event()
        sql = self._pg.sql
        schema, _, name = self.table.rpartition(".")
        self._ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        self._con: Any = None
        try:
            self._connect()
            self._prepare()
        except self._pg.Error as exc:
            self._drop_connection()
            raise OutputError(
                f"cannot write {self.path}: {_reason(exc)}; check the address and that the "
                "database is running, or choose another --out"
            ) from None
        except BaseException:
            self._drop_connection()
            raise

    # ------------------------------------------------------------------ connection

    def _connect(self) -> None:
        self._con = self._pg.connect(
            self._conninfo,
            connect_timeout=max(1, int(self.connect_timeout)),
            application_name="hkticks",
        )
        cols = ", ".join(f"{n} {t}" for n, t in COLUMNS)
        with self._con.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS hkticks_stage (" + cols + ") ON COMMIT DELETE ROWS"
            )
        self._con.commit()

    def _drop_connection(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._con = None

    def _prepare(self) -> None:
        sql = self._pg.sql
        con = self._con
        schema = self.table.rpartition(".")[0]
        with con.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
            timescale = cur.fetchone() is not None
            cols = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in COLUMNS
            )
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(self._ident, cols))
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s AND table_schema = coalesce(nullif(%s, ''), current_schema()) "
                "ORDER BY ordinal_position",
                (self.table.rpartition(".")[2], self.table.rpartition(".")[0]),
            )
            found = tuple((n, t) for n, t in cur.fetchall())
            if found != COLUMNS:
                have = ", ".join(f"{n} {t}" for n, t in found)
                raise OutputError(
                    f"{self.path}: table {self.table} has other columns ({have}); "
                    "choose another ?table="
                )
            base = self.table.rpartition(".")[2]
            if timescale:
                cur.execute(
                    "SELECT create_hypertable(%s, 'ts', chunk_time_interval => %s, "
                    "if_not_exists => TRUE, migrate_data => TRUE)",
                    (self.table, DAY_MS),
                )
                self.hypertable = True
                key = sql.SQL("symbol, seq, ts")
                index = sql.Identifier(f"{base}_symbol_seq_ts_key")
            else:
                key = sql.SQL("symbol, " + DAY_SQL + ", seq")
                index = sql.Identifier(f"{base}_symbol_day_seq_key")
                # the key of earlier versions: (symbol, seq) alone drops a new day's trades
                old = f"{base}_symbol_seq_key"
                old_ident = sql.Identifier(schema, old) if schema else sql.Identifier(old)
                cur.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(old_ident))
            cur.execute(
                sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    index, self._ident, key
                )
            )
        con.commit()
        names = sql.SQL(", ").join(map(sql.Identifier, RECORD_FIELDS))
        self._copy = sql.SQL("COPY hkticks_stage ({}) FROM STDIN").format(names)
        self._move = sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM hkticks_stage ON CONFLICT ({}) DO NOTHING"
        ).format(self._ident, names, names, key)

    # ------------------------------------------------------------------ writing

    def _write_once(self, items: Sequence[Any]) -> int:
        con = self._con
        with con.cursor() as cur:
            with cur.copy(self._copy) as copy:
                write_row = copy.write_row
                for row in map(_row, items):
                    write_row(row)
            cur.execute(self._move)
            added = cur.rowcount
        con.commit()
        return int(added)

    def write(self, items: Sequence[Any]) -> None:
        """Store one batch; on a lost connection reconnect and replay it (no loss, no duplicate)."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ValueError(f"write to closed sink {self.path}")
        if not items:
            return
        pg = self._pg
        deadline: float | None = None
        pause = 0.1
        while True:
            try:
                if self._con is None:
                    self._connect()
                    self.reconnects += 1
                    self.replayed += len(items)
                    log.warning("%s: reconnected; writing the batch again", self.path)
                added = self._write_once(items)
                break
            except pg.OperationalError as exc:  # the server went away (restart, network)
                self._drop_connection()
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.retry_for
                    log.warning(
                        "%s: %s; reconnecting (for up to %.0f s)",
                        self.path,
                        _reason(exc),
                        self.retry_for,
                    )
                if self._interrupted.is_set():
                    self._failure = OutputError(
                        f"{self.path}: {_reason(exc)}; gave up at the end of the run "
                        f"(wrote {self.rows:,} {self.what} before)"
                    )
                    raise self._failure from None
                if now >= deadline:
                    self._failure = OutputError(
                        f"{self.path}: {_reason(exc)} for {self.retry_for:.0f} s "
                        f"(wrote {self.rows:,} {self.what} before the failure); "
                        "check the database server"
                    )
                    raise self._failure from None
                self._interrupted.wait(pause)
                pause = min(pause * 2, 2.0)
            except pg.Error as exc:
                self._rollback()
                self._failure = OutputError(
                    f"{self.path}: {_reason(exc)} (wrote {self.rows:,} {self.what} before "
                    "the failure); check the table and its permissions"
                )
                raise self._failure from None
        self.rows += len(items)
        self.inserted += added

    def interrupt(self) -> None:
        """Stop retrying (the run is ending and this output was given up on); thread-safe."""
        self._interrupted.set()

    def _rollback(self) -> None:
        if self._con is not None:
            try:
                self._con.rollback()
            except Exception:  # noqa: BLE001
                pass

    def flush(self, fsync: bool = False) -> None:
        """Every batch is committed when ``write`` returns."""
        if self._failure is not None and not self._closed:
            raise self._failure

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._drop_connection()

    def last_trades(self, symbols: Collection[str]) -> LastTrades:
        """The last (seq, ts) of each symbol already in the table (resume)."""
        out = LastTrades()
        if not symbols or self._con is None:
            return out
        query = self._pg.sql.SQL(
            "SELECT DISTINCT ON (symbol) symbol, seq, ts FROM {} "
            "WHERE symbol = ANY(%s) AND seq IS NOT NULL ORDER BY symbol, ts DESC, seq DESC"
        ).format(self._ident)
        try:
            with self._con.cursor() as cur:
                cur.execute(query, (list(symbols),))
                for symbol, seq, ts in cur.fetchall():
                    out.keep(symbol, seq, ts)
            self._con.commit()
        except self._pg.Error as exc:
            self._rollback()
            log.warning("%s: could not read the last trades (%s)", self.path, _reason(exc))
            out.complete = False
        return out
