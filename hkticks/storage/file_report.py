"""What reading one file found (a recording or an archive part): counts of bad, torn and
damaged records, the error that stopped it, a few examples."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EXAMPLES = 5


@dataclass
class FileReport:
    """What reading one file found. ``kind`` is ``"trades"``, ``"books"``,
    ``"events"`` or ``"unknown"`` (then ``error`` says why nothing was read)."""

    path: str
    format: str
    compression: str | None
    kind: str = "trades"
    rows: int = 0  # trades read, before the selection
    bad: int = 0  # lines or rows that are not a valid trade
    torn: int = 0  # a torn last line / a compressed stream cut short
    corrupt: int = 0  # damaged compressed blocks skipped
    error: str | None = None
    examples: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def skipped(self) -> int:
        return self.bad + self.torn + self.corrupt

    def problem(self, where: str, what: str) -> None:
        self.bad += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {what}")

    def summary(self) -> str | None:
        """One line about what was skipped, or ``None`` when the file was clean."""
        name = "stdin" if self.path == "-" else self.path
        if self.error:
            return f"{name}: {self.error}"
        parts = []
        if self.bad:
            first = f" (first: {self.examples[0]})" if self.examples else ""
            parts.append(
                f"skipped {self.bad:,} invalid record{'s' if self.bad != 1 else ''}{first}"
            )
        if self.torn:
            parts.append(
                "the last line was torn (the recorder was stopped hard)"
                if self.compression is None
                else "the compressed data stops short (the recorder was stopped hard); "
                "every complete line before that was read"
            )
        if self.corrupt and self.format == "parquet":
            listed = "; ".join(self.examples[: self.corrupt])
            return f"{name}: {self.corrupt} unreadable part{'s' if self.corrupt != 1 else ''}: {listed}"
        if self.corrupt:
            parts.append(
                f"skipped {self.corrupt} damaged compressed block{'s' if self.corrupt != 1 else ''}"
            )
        return f"{name}: " + "; ".join(parts) if parts else None
