"""The ``dirty`` scenario: a feed with known data-quality faults, and their truth.

``serve --scenario dirty`` makes the simulated market's stream carry the
faults ``hkticks validate`` looks for, at known rates (of trades pushed):

* ``duplicate`` (1%): the symbol's last trade is sent again, same seq;
* ``out_of_order`` (0.5%): a trade is held back and sent after the symbol's
  next one (its seq then goes backwards);
* ``spike`` (0.1%): a trade's price is moved 10-20% up or down, and at least
  8 ticks (snapped to the spread table, so only its distance from the recent
  prints gives it away).

Every fault is logged as it is sent (``truth``: fault, five-digit symbol,
seq, exchange time ``ts`` and ``sent`` time; optionally one JSON line each to ``truth_path``), so a test can count
what ``validate`` found. :meth:`DirtyFeed.install` wraps one market's
``next_trade``; the rest of the server (pushes, REST, ``kline``) is unchanged,
and the market's own statistics and minute bars hold the true trades.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from typing import IO, Any

import orjson

from hkticks.server.market import Market, Trade
from hkticks.server.tick_ladder import MAX_PRICE, MIN_PRICE, snap, tick_down, tick_up

NAME = "dirty"
FAULTS = ("duplicate", "out_of_order", "spike")
SPIKE_TICKS = 8


class DirtyFeed:
    """Wraps ``market.next_trade`` so that its trades carry seeded faults."""

    def __init__(
        self,
        market: Market,
        *,
        seed: int | None = None,
        duplicate: float = 0.01,
        out_of_order: float = 0.005,
        spike: float = 0.001,
        truth_path: str | None = None,
        truth_file: IO[bytes] | None = None,
    ) -> None:
        if min(duplicate, out_of_order, spike) < 0 or duplicate + out_of_order + spike >= 1:
            raise ValueError("fault rates must be >= 0 and add up to less than 1")
        self.market = market
        self.rates = {"duplicate": duplicate, "out_of_order": out_of_order, "spike": spike}
        self._rng = random.Random(seed)
        self._make = market.next_trade
        self._last: dict[str, Trade] = {}
        self._held: dict[str, Trade] = {}
        self._lock = threading.Lock()
        self.truth: list[dict[str, Any]] = []
        self._owns_truth = truth_file is None and truth_path is not None
        self._truth_file: IO[bytes] | None = (
            open(truth_path, "ab") if self._owns_truth and truth_path else truth_file  # noqa: SIM115
        )

    def install(self) -> DirtyFeed:
        """From now on the market's trades (pushes) go through :meth:`next_trade`."""
        self.market.next_trade = self.next_trade  # type: ignore[method-assign]
        return self

    def close(self) -> None:
        if self._truth_file is not None and self._owns_truth:
            self._truth_file.close()
        self._truth_file = None

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = dict.fromkeys(FAULTS, 0)
            for rec in self.truth:
                out[rec["fault"]] += 1
            return out

    def _log(self, fault: str, trade: Trade, sent: int) -> None:
        rec = {
            "fault": fault,
            "symbol": trade.symbol,
            "seq": trade.seq,
            "ts": trade.ts,
            "sent": sent,
        }
        with self._lock:
            self.truth.append(rec)
        if self._truth_file is not None:
            self._truth_file.write(orjson.dumps(rec) + b"\n")
            self._truth_file.flush()

    def next_trade(self, symbol: str, now_ms: int) -> Trade | None:
        held = self._held.pop(symbol, None)
        if held is not None:  # the trade held back, now behind its successor
            self._log("out_of_order", held, now_ms)
            self._last[symbol] = held
            return held
        x = self._rng.random()
        dup, ooo, spike = (self.rates[f] for f in FAULTS)
        last = self._last.get(symbol)
        if x < dup:
            if last is not None:
                self._log("duplicate", last, now_ms)
                return last
        trade = self._make(symbol, now_ms)
        if trade is None:
            return None
        if dup <= x < dup + ooo:
            successor = self._make(symbol, now_ms)
            if successor is not None:
                self._held[symbol] = trade
                self._last[symbol] = successor
                return successor
        elif dup + ooo <= x < dup + ooo + spike:
            up = self._rng.random() < 0.5
            factor = 1 + (1 if up else -1) * self._rng.uniform(0.10, 0.20)
            price = snap(round(trade.price * factor))
            # and at least SPIKE_TICKS ticks: on a 0.02 stock 10% is two ticks, a normal move
            far = trade.price
            for _ in range(SPIKE_TICKS):
                far = tick_up(far) if up else tick_down(far)
            price = max(price, far) if up else min(price, far)
            if not MIN_PRICE <= price <= MAX_PRICE:
                price = trade.price
            if price != trade.price:
                trade = replace(trade, price=price)
                self._log("spike", trade, now_ms)
        self._last[symbol] = trade
        return trade
