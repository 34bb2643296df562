"""Output specs: an ``--out`` (or ``--book-out``, ``--events``) parsed once.

An :class:`OutputSpec` knows what the text names (stdout, a file, a
rotation template, a NATS stream, a PostgreSQL table), how it is shown
(secrets masked: :attr:`OutputSpec.shown` is the only name that reaches a
screen, a log or an event), whether it can be written (:meth:`check`, before
anything connects) and how to open it (:meth:`open_ticks`,
:meth:`open_records`). :class:`RecordOutputs` is the set of outputs of one
recording: its tick outputs, the book output and the events sidecar that
follows the first file.

The sinks themselves are in :mod:`hkticks.storage.sinks`; nothing else in
hkticks looks at the text of an ``--out``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hkticks.alltick.urls import redact
from hkticks.errors import UsageError
from hkticks.storage.sinks import Sink, check_output, open_jsonl_sink, open_tick_sink
from hkticks.storage.sinks.rotating import (
    FollowerSink,
    RotatePolicy,
    RotatingSink,
    expand,
    now_ms,
    parse_rotate,
    template_for,
)
from hkticks.storage.sinks.servers import with_publishers

STDOUT, FILE, NATS, POSTGRES = "stdout", "file", "nats", "postgres"
_SERVER_SCHEMES = {
    "nats": NATS,
    "tls": NATS,
    "postgresql": POSTGRES,
    "postgres": POSTGRES,
}
EVENTS_SUFFIX = ".events.jsonl"


def kind_of(text: str) -> str:
    """``stdout``, ``file``, ``nats`` or ``postgres``: what an output's text names."""
    if text == "-":
        return STDOUT
    scheme, sep, _ = text.partition("://")
    if sep and scheme.lower() in _SERVER_SCHEMES:
        return _SERVER_SCHEMES[scheme.lower()]
    return FILE


@dataclass(frozen=True)
class OutputSpec:
    """One output, parsed once. ``text`` may hold a password: show :attr:`shown`."""

    text: str
    option: str = "--out"
    rotate: RotatePolicy | None = None
    kind: str = FILE
    template: str | None = None  # a rotating file: its name template

    @property
    def is_server(self) -> bool:
        return self.kind in (NATS, POSTGRES)

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    @property
    def shown(self) -> str:
        """The name shown in messages, summaries and events (secrets masked)."""
        if self.kind == STDOUT:
            return "stdout"
        return redact(self.template or self.text)

    @property
    def name(self) -> str:
        """A file's name (its rotation template) without the folder, for the sidecar."""
        return os.path.basename(self.template or self.text)

    def current_path(self, ts_ms: int | None = None) -> str:
        """The file written now (a rotation: the one its template names at ``ts_ms``)."""
        if self.template is None:
            return self.text
        return expand(self.template, now_ms() if ts_ms is None else ts_ms)

    def check(self) -> None:
        """Raise unless the output can be written (before anything connects)."""
        check_output(self.text, self.option, rotate=self.rotate)

    def open_ticks(self) -> Sink:
        """The tick sink of this output (connects to a server output)."""
        return open_tick_sink(self.text, self.rotate)

    def open_records(
        self, *, what: str = "records", time_of: Callable[[Any], int] | None = None
    ) -> Sink:
        """A JSON Lines sink for books or events (items with ``.record()``)."""
        return open_jsonl_sink(self.text, what=what, rotate=self.rotate, time_of=time_of)


def parse_output(
    text: str, option: str = "--out", rotate: RotatePolicy | None = None
) -> OutputSpec:
    """The spec of ``text`` given to ``option`` (:class:`UsageError` when it cannot be one).

    Servers (``nats://``, ``postgresql://``) are tick outputs of ``--out`` only and
    do not rotate; a file's rotation template is worked out (and checked) here.
    """
    if not text:
        raise UsageError(f"{option} needs a path")
    kind = kind_of(text)
    if kind in (NATS, POSTGRES):
        head = redact(text.split("?")[0])
        if rotate is not None:
            raise UsageError(
                f"{option} {head}: --rotate applies to files; a server keeps one "
                "stream/table (retention: max_age/max_bytes for NATS)"
            )
        if option != "--out":
            raise UsageError(f"{option} takes a file; servers go in --out ({head})")
        return OutputSpec(text, option, None, kind)
    template = template_for(text, rotate) if kind == FILE else None
    return OutputSpec(text, option, rotate, kind, template)


def parse_file_target(text: str, option: str) -> str:
    """A folder or file an option writes to (``compact --to``): a server is refused."""
    if kind_of(text) in (NATS, POSTGRES):
        raise UsageError(
            f"{option} {redact(text.split('?')[0])}: takes a local folder, not a server address"
        )
    return text


def _event_ts(event: Any) -> int:
    return int(event.ts)


@dataclass
class OpenedOutputs:
    """The sinks of a recording, in the order of its :class:`RecordOutputs`."""

    ticks: list[Sink]
    books: Sink | None
    events: Sink | None

    def all(self) -> list[Sink]:
        return [s for s in (*self.ticks, self.books, self.events) if s is not None]

    def close(self) -> None:
        for sink in self.all():
            sink.close()


@dataclass
class RecordOutputs:
    """Every output of one recording: ticks, books, the events sidecar."""

    ticks: list[OutputSpec]
    books: OutputSpec | None = None
    events: OutputSpec | None = None
    events_follow: bool = False  # the default sidecar follows its rotating output's files
    rotate: RotatePolicy | None = None
    existed: set[str] = field(default_factory=set)  # files there before this run

    @classmethod
    def parse(
        cls,
        outs: Sequence[str],
        *,
        book_out: str | None = None,
        events: str | None = None,
        rotate: str | RotatePolicy | None = None,
    ) -> RecordOutputs:
        """Parse and cross-check a recording's outputs (nothing is opened)."""
        if not outs:
            raise UsageError("give at least one --out")
        if list(outs).count("-") > 1:
            raise UsageError("--out - (stdout) can be given once")
        policy = parse_rotate(rotate) if isinstance(rotate, str) else rotate
        ticks = [parse_output(o, "--out", policy) for o in outs]
        books = parse_output(book_out, "--book-out", policy) if book_out else None
        follow = False
        if events:
            sidecar: OutputSpec | None = parse_output(events, "--events")
        else:
            # the events sidecar: <first file --out>.events.jsonl; when that output
            # rotates, named after its template and rotating with it (each file gets
            # the sidecar of the events written while it was current)
            first = next((o for o in ticks if o.is_file), None)
            sidecar = None
            if first is not None:
                name = f"{first.template or first.text}{EVENTS_SUFFIX}"
                follow = first.template is not None
                sidecar = OutputSpec(name, "--events", None, FILE, name if follow else None)
        spec = cls(ticks, books, sidecar, follow, policy)
        spec._refuse_same_file_twice()
        return spec

    def _refuse_same_file_twice(self) -> None:
        """One file (or server) named twice would get every trade twice, interleaved."""
        seen: dict[str, str] = {}
        for out in (*self.ticks, self.books, self.events):
            if out is None or out.kind == STDOUT:
                continue
            key = os.path.realpath(out.template or out.text) if out.is_file else out.text
            if key in seen:
                raise UsageError(
                    f"{out.shown} is named twice ({seen[key]} and {out.option}): "
                    "give each output its own file"
                )
            seen[key] = out.option

    @property
    def files(self) -> list[OutputSpec]:
        return [o for o in self.ticks if o.is_file]

    def file_names(self) -> list[str]:
        """The file names (rotation templates) of the local tick outputs, for the sidecar."""
        return [o.name for o in self.files]

    def current_files(self) -> list[str]:
        """The files the tick outputs append to now."""
        return [o.current_path() for o in self.files]

    def check(self) -> None:
        """Every output writable, before anything connects; notes which files existed."""
        for out in self.ticks:
            out.check()
        if self.books is not None:
            self.books.check()
        if self.events is not None:
            if self.events_follow:  # a following sidecar: check the one it names now
                check_output(self.events.current_path(), "--events")
            else:
                self.events.check()
        current = [
            *self.current_files(),
            self.books.current_path() if self.books else "",
            self.events.current_path() if self.events else "",
        ]
        self.existed = {p for p in current if p and os.path.exists(p)}

    def open(self) -> OpenedOutputs:
        """Open every sink (all or none: a failure closes those already open)."""
        opened = OpenedOutputs([], None, None)
        try:
            for out in self.ticks:
                opened.ticks.append(out.open_ticks())
            if self.books is not None:
                opened.books = self.books.open_records()
            if self.events is not None:
                leader = next(
                    (s for s, o in zip(opened.ticks, self.ticks, strict=True) if o.is_file),
                    None,
                )
                if self.events_follow and isinstance(leader, RotatingSink):
                    opened.events = FollowerSink(leader, EVENTS_SUFFIX, open_jsonl_sink)
                else:
                    opened.events = self.events.open_records(time_of=_event_ts)
            opened.books, opened.events = with_publishers(opened.ticks, opened.books, opened.events)
        except BaseException:
            opened.close()
            raise
        return opened
