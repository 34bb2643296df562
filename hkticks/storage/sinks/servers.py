"""Outputs that are servers, not files: ``nats://HOST:4222/hk`` (JetStream) and
``postgresql://user@host/db?table=ticks`` (PostgreSQL / TimescaleDB).

:func:`check_remote` runs before anything connects to the provider (the
address parses, the client library is installed); :func:`open_remote`
connects. A NATS output also publishes the recording's books and session
events (:func:`with_publishers` puts it beside the book and event sinks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hkticks.alltick.urls import redact
from hkticks.errors import UsageError

SCHEMES = ("nats://", "tls://", "postgresql://", "postgres://")


def is_remote(path: str) -> bool:
    return path.lower().startswith(SCHEMES)


def _is_nats(path: str) -> bool:
    return path.lower().startswith(("nats://", "tls://"))


def check_remote(path: str, option: str = "--out", rotate: Any = None) -> None:
    if rotate is not None:
        raise UsageError(
            f"{option} {redact(path.split('?')[0])}: --rotate applies to files; a server keeps one "
            "stream/table (retention: max_age/max_bytes for NATS)"
        )
    if option != "--out":
        raise UsageError(
            f"{option} takes a file; servers go in --out ({redact(path.split('?')[0])})"
        )
    if _is_nats(path):
        from hkticks.storage.sinks.nats import check_nats_output

        check_nats_output(path, option)
    else:
        from hkticks.storage.sinks.postgres import check_postgres_output

        check_postgres_output(path, option)


def open_remote(path: str) -> Any:
    if _is_nats(path):
        from hkticks.storage.sinks.nats import NatsSink

        return NatsSink(path)
    from hkticks.storage.sinks.postgres import PostgresSink

    return PostgresSink(path)


class Tee:
    """Several sinks written as one (a file sidecar and a NATS stream)."""

    def __init__(self, sinks: Sequence[Any]) -> None:
        self.sinks = list(sinks)
        self.path = self.sinks[0].path
        self.repaired_bytes = self.sinks[0].repaired_bytes

    @property
    def rows(self) -> int:
        return int(self.sinks[0].rows)

    def write(self, items: Sequence[Any]) -> None:
        for sink in self.sinks:
            sink.write(items)

    def flush(self, fsync: bool = False) -> None:
        for sink in self.sinks:
            sink.flush(fsync)

    def close(self) -> None:
        error: BaseException | None = None
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 - close the others, raise the first
                error = error or exc
        if error is not None:
            raise error

    def take_events(self) -> list[Any]:
        out: list[Any] = []
        for sink in self.sinks:
            take = getattr(sink, "take_events", None)
            if take is not None:
                out.extend(take())
        return out


def with_publishers(tick_sinks: Sequence[Any], book_sink: Any, event_sink: Any) -> tuple[Any, Any]:
    """The book and event sinks, each also feeding every NATS tick sink (books, events)."""
    from hkticks.storage.sinks.nats import NatsSink

    publishers = [s for s in tick_sinks if isinstance(s, NatsSink)]
    if not publishers:
        return book_sink, event_sink
    if book_sink is not None:
        book_sink = Tee([book_sink, *publishers])
    event_sink = Tee([event_sink, *publishers]) if event_sink is not None else Tee(publishers)
    return book_sink, event_sink
