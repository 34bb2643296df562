"""``--shard i/n``: split a symbol list deterministically over n recorders.

Each recorder (on its own token or machine) takes the symbols whose shard is
``i``; together the n shards cover the list exactly once. A symbol's shard
depends only on its code (CRC-32 of the five-digit code, modulo n), never on
the order or size of the list, so a universe that gains or loses a stock
moves no other stock between recorders, and every machine computes the same
split without talking to the others.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from hkticks.errors import UsageError

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, code: str) -> bool:
        return shard_of(code, self.count) == self.index

    def select(self, codes: Iterable[str]) -> list[str]:
        """The codes of this shard, in their given order."""
        return [c for c in codes if self.owns(c)]


def shard_of(code: str, count: int) -> int:
    """The 1-based shard of ``code`` among ``count`` shards."""
    return zlib.crc32(code.encode("ascii")) % count + 1


def parse_shard(text: str) -> Shard:
    """``"2/4"`` -> ``Shard(2, 4)``; a clear :class:`UsageError` for anything else."""
    m = _SPEC.fullmatch(text)
    if not m:
        raise UsageError(f"invalid --shard {text!r}: use i/n, e.g. --shard 1/3 (shards 1 to n)")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UsageError(
            f"invalid --shard {text!r}: the shard must be 1 to n and n at least 1, e.g. 1/{max(count, 2)}"
        )
    return Shard(index, count)
