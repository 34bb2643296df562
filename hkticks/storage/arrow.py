"""pyarrow, loaded on demand, and the archive's Arrow schema (shared by the archive's
readers, its compaction, the selection's Arrow translation and the part figures)."""

from __future__ import annotations

from typing import Any

from hkticks.errors import UsageError

PARQUET_HINT = "pip install 'hkticks[parquet]'"


class MissingExtra(UsageError):
    """An optional dependency is not installed; the message says what to install."""


def pyarrow_modules() -> tuple[Any, Any, Any]:
    """``(pyarrow, pyarrow.compute, pyarrow.parquet)``, or :class:`MissingExtra`."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra(
            f"Parquet needs pyarrow, which is not installed: {PARQUET_HINT}"
        ) from None
    return pa, pc, pq


def schema() -> Any:
    """The archive's Arrow schema (``RECORD_FIELDS`` in order)."""
    pa, _, _ = pyarrow_modules()
    ms = pa.timestamp("ms", tz="UTC")
    return pa.schema(
        [
            pa.field("symbol", pa.string(), nullable=False),
            pa.field("ts", ms, nullable=False),
            pa.field("price", pa.float64(), nullable=False),
            pa.field("volume", pa.int64(), nullable=False),
            pa.field("turnover", pa.float64(), nullable=False),
            pa.field("side", pa.string()),
            pa.field("seq", pa.int64()),
            pa.field("recv_ts", ms, nullable=False),
            pa.field("src", pa.string(), nullable=False),
        ]
    )
