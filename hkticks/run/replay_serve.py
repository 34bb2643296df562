"""``hkticks replay --serve``: recordings played back by the embedded AllTick-compatible server.

:class:`ReplayServer` builds the server on a :class:`~hkticks.server.replaysource.ReplaySource`
of the recording (playback starts when a client subscribes), starts it, and
reports where it is; the CLI prints the banner and the progress line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hkticks.analysis.replay import ReplayClock, Tally
from hkticks.errors import HkticksError, UsageError


class ReplayServer:
    """The embedded server replaying ``recording`` at ``speed`` (``None``: as fast as it reads)."""

    def __init__(
        self,
        recording: Any,
        speed: float | None,
        max_gap_ms: int | None,
        *,
        host: str,
        port: int,
        rest_port: int | None,
        token: str,
        plan: str,
        simulated: bool = True,
    ) -> None:
        from hkticks.server import MarketServer
        from hkticks.server.replaysource import ReplaySource

        if rest_port is None:
            rest_port = port + 1 if port else 0
        if rest_port and rest_port == port:
            raise UsageError("--rest-port must differ from --port")
        self.speed, self.token, self.simulated = speed, token, simulated
        self.tally = Tally(recording.keyed())
        self.source = ReplaySource(iter(self.tally), speed=speed, max_gap_ms=max_gap_ms)
        self.server = MarketServer(
            host=host,
            port=port,
            rest_port=rest_port,
            token=token,
            plan=plan,
            rate=0,
            replay=self.source,
            simulated=simulated,
        )

    def start(self) -> None:
        self.server.start()  # a one-line error when the port is taken

    def stop(self) -> None:
        self.server.stop()

    @property
    def finished(self) -> bool:
        return bool(self.source.finished)

    def progress(self) -> str | None:
        """``replaying <time> HKT  sent N`` while playing, else ``None``."""
        from hkticks.storage.readers import hk_datetime

        if not self.source.started or self.source.finished:
            return None
        pos = self.source.position()
        when = hk_datetime(pos) if pos is not None else "-"
        return f"replaying {when} HKT  sent {self.source.sent:,}"

    def banner(self, files: int) -> list[str]:
        """What is served, where, and how a client starts the playback (the token masked)."""
        from hkticks.alltick.urls import redact

        ws, rest = self.server.ws_url, self.server.rest_url
        speed = "max speed" if self.speed is None else f"{self.speed:g}x"
        return [
            f"hkticks replay: serving {files} recording{'s' if files != 1 else ''} at {speed} "
            f"on {redact(ws + '?token=' + self.token)} (REST: simulated"
            + ("; the trades are simulated: DEMO)" if self.simulated else ")"),
            "  playback starts when a client subscribes, e.g.: hkticks watch 00700 "
            f"--url {ws} --rest-url {rest} --token ...   Ctrl-C stops.",
        ]

    def finished_line(self) -> str:
        if self.source.error is not None:
            return f"replay stopped: {self.source.error}"
        return f"replay finished: {self.source.sent:,} trades sent; still serving (Ctrl-C stops)"

    def wait(
        self,
        stop: Any,
        on_finished: Callable[[str], None],
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        """Serve until ``stop`` (a :class:`~hkticks.stopping.StopFlag`) is set, looking every
        0.5 s: ``on_finished`` gets :meth:`finished_line` once, ``on_progress`` the
        :meth:`progress` line while playing."""
        announced = False
        while not stop.wait(0.5):
            if self.finished and not announced:
                announced = True
                on_finished(self.finished_line())
            elif on_progress is not None and (status := self.progress()) is not None:
                on_progress(status)

    def failure(self) -> HkticksError | None:
        error = self.source.error
        return error if isinstance(error, HkticksError) else None

    @property
    def clock(self) -> ReplayClock:
        return self.source.clock  # type: ignore[no-any-return]
