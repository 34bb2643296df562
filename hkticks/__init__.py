"""hkticks: live Hong Kong Stock Connect trades over one WebSocket.

The Python API (see :mod:`hkticks.api`) is imported on first use, so
``import hkticks`` stays cheap::

    import hkticks
    for tick in hkticks.stream(["00700"], demo=True): ...
    df = hkticks.read_frame("archive/", symbols=["00700"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "stream": "hkticks.api",
    "astream": "hkticks.api",
    "read": "hkticks.api",
    "read_frame": "hkticks.api",
    "record": "hkticks.api",
    "alerts": "hkticks.api",
    "TickStream": "hkticks.api",
    "AsyncTickStream": "hkticks.api",
    "Source": "hkticks.api",
    "feed_source": "hkticks.api",
    "nats_source": "hkticks.api",
    "Tick": "hkticks.tick",
    "Event": "hkticks.tick",
    "HkticksError": "hkticks.errors",
}

__all__ = [
    "__version__",
    "stream",
    "astream",
    "read",
    "read_frame",
    "record",
    "alerts",
    "TickStream",
    "AsyncTickStream",
    "Source",
    "feed_source",
    "nats_source",
    "Tick",
    "Event",
    "HkticksError",
]

if TYPE_CHECKING:
    from hkticks.api import (
        AsyncTickStream,
        Source,
        TickStream,
        alerts,
        astream,
        feed_source,
        nats_source,
        read,
        read_frame,
        record,
        stream,
    )
    from hkticks.errors import HkticksError
    from hkticks.tick import Event, Tick


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'hkticks' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
