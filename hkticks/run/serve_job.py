"""The serve job: the embedded AllTick-compatible server (a simulated HK market) with
what ``hkticks serve`` runs beside it.

:class:`ServeJob` builds the :class:`~hkticks.server.MarketServer` of the given
options (the REST port next to the WebSocket one, the scenario's truth log in
the cache by default), starts it with the chaos thread of ``--chaos``, and on
:meth:`ServeJob.stop` stops both, closes the scenario and writes the send log
of ``--send-log``. It prints nothing: the CLI shows the banner and the summary.
"""

from __future__ import annotations

import time
from typing import Any

from hkticks.alltick import protocol as alltick


def default_truth_path(scenario: str) -> str:
    """Where a scenario's injected events go without ``--truth``:
    ``$XDG_CACHE_HOME/hkticks/scenario-NAME-truth.jsonl``."""
    from hkticks.config import cache_dir

    cache_dir().mkdir(parents=True, exist_ok=True)
    return str(cache_dir() / f"scenario-{scenario.partition(':')[0]}-truth.jsonl")


def write_send_log(path: str, times: list[tuple[str, int, int]]) -> None:
    """The send time of every trade push, for ``hkticks bench``'s latency figures
    (``tick_time`` has only millisecond resolution)."""
    with open(path, "w", encoding="ascii") as fh:
        fh.writelines(f"{symbol},{seq},{ns}\n" for symbol, seq, ns in times)


class ServeJob:
    """The market server of ``server_options`` (:class:`MarketServer`'s keywords; its
    ``rest_port`` ``None`` is ``port + 1``, or any free port with ``port`` 0), with
    ``chaos`` socket kills an hour and the send log written to ``send_log`` on stop."""

    def __init__(
        self,
        *,
        scenario: str | None = None,
        truth: str | None = None,
        chaos: float | None = None,
        send_log: str | None = None,
        seed: int | None = None,
        **server_options: Any,
    ) -> None:
        from hkticks.server import MarketServer

        port = server_options.get("port", 0)
        if server_options.get("rest_port") is None:
            server_options["rest_port"] = port + 1 if port else 0
        self.scenario = None if scenario in (None, "none") else scenario
        if self.scenario is not None and truth is None:
            truth = default_truth_path(self.scenario)
        self.truth = truth
        self.chaos, self.send_log, self.seed = chaos, send_log, seed
        self.options = server_options
        self.server = MarketServer(
            **server_options,
            seed=seed,
            stamp_sent=send_log is not None,
            scenario=self.scenario,
            scenario_truth=truth,
        )
        self._chaos_thread: Any = None

    def start(self) -> None:
        """Listen (a one-line :class:`HkticksError` when a port is taken), and start the
        chaos thread."""
        self.server.start()
        if self.chaos:
            from hkticks.server.chaos import Chaos

            self._chaos_thread = Chaos(self.server, self.chaos, self.seed).start()

    def banner(self, *, default_token: bool) -> list[str]:
        """What runs and where (the token masked), the plan's limits, how to connect;
        ``default_token``: the public default of ``--help``, not one of the user's."""
        from hkticks.alltick.urls import redact
        from hkticks.market_hours import market_session, simulated_label

        server, opts = self.server, self.options
        token, plan = opts.get("token", "t"), opts.get("plan", "all-hk")
        limits = alltick.PLANS[plan]
        mode = (
            "firehose (as fast as each client reads)"
            if opts.get("firehose")
            else f"{opts.get('rate', 200.0):g} trades/s"
        )
        session = market_session(time.time())
        closed = f"; trades carry the time they are made ({session.until(time.time())})"
        lines = [
            "hkticks serve: SIMULATED Hong Kong market (not real prices): "
            f"{len(server.stocks)} stocks, {mode}",
            f"  session    {simulated_label(session)}" + ("" if session.trading else closed),
            f"  WebSocket  {redact(server.ws_url + '?token=' + token)}",
            f"  REST       {server.rest_url}",
            f"  SSE list   {server.sse_url}",
            f"  SZSE list  {server.szse_url}",
            "  token      the public default shown by --help; set your own with --token"
            if default_token
            else "  token      the one given with --token (shown as ***)",
            f"  plan       {plan}: {limits.max_connections} connections per token, "
            f"{limits.max_symbols} symbols per connection",
            f"Point a client at it, e.g.: hkticks watch 00700 --url {server.ws_url} "
            f"--rest-url {server.rest_url} --token ...   Press Ctrl-C to stop.",
        ]
        if self.chaos:
            lines.append(
                f"  chaos      {self.chaos:g} socket kills an hour (every open connection reset)"
            )
        if self.scenario is not None:
            lines.append(f"  scenario   {self.scenario}: injected events logged to {self.truth}")
        return lines

    def stop(self) -> int:
        """Stop everything; returns how many connections were open."""
        connections = len(self.server.connections())
        if self._chaos_thread is not None:
            self._chaos_thread.stop()
        self.server.stop()
        if self.server.dirty is not None:
            self.server.dirty.close()
        if self.send_log is not None:
            write_send_log(self.send_log, self.server.sent_times())
        return connections
