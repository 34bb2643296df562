"""Compressed line files: ``.gz`` (gzip, standard library) and ``.zst`` (``zstandard``).

A recording is kept for years, so it must be compact; it must also survive a
crash like the plain formats do. Both come from writing the file as a series
of independent *members* (gzip members, zstd frames), each holding at most
:data:`MEMBER_BYTES` of lines:

* a member starts with a fixed signature (a gzip header with an ``HK`` extra
  field; for zstd a skippable frame) that hkticks can find again by scanning
  backwards from the end of the file, so reopening never decompresses more
  than the last member;
* :meth:`CompressedLineFile.flush` (the recorder calls it at least every
  ``--flush-interval``) does a *sync flush*: every line written so far is then
  in the file and can be decompressed, although the member is not finished;
* :meth:`CompressedLineFile.close` finishes the member (gzip: CRC and size
  trailer), so every clean stop leaves a file any tool reads without a warning.

After a crash the file is complete members followed by one unfinished
member. Decompressing a prefix of a deflate or zstd stream gives a prefix of
the data, so readers (:class:`Decoder`) keep every complete line up to the
last flush and count the torn last line; ``zcat`` prints the same lines and
then reports "unexpected end of file". Reopening such a file for appending
(:meth:`CompressedLineFile.repair`) rewrites the complete lines of the
unfinished member as a finished member and drops the torn line, so the file
is whole again before anything is appended. Members are standard: ``gzip -d``,
``zstd -d``, Python's ``gzip`` module and pandas read the files as they are.

Compared with the plain formats, a crash can lose what was written since the
last flush (up to one ``--flush-interval``): the compressor holds it. So the
count of rows written is only of what reached the file whole: lines are
counted as durable at each successful sync flush (or finished member); a
write or sync that fails (disk full) cuts the file back to the last durable
point, and the lines since then are taken back from the count
(:attr:`CompressedLineFile.lost_lines`). What the error message says was
written is exactly what a reader finds.
"""

from __future__ import annotations

import errno
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from hkticks.errors import UsageError
from hkticks.storage.sinks.failures import open_failed, os_reason
from hkticks.storage.sinks.linefile import LineFile, PartialWrite, gone, open_for_append

# Uncompressed bytes per member: large enough that starting a new member
# costs nothing measurable in ratio, small enough that repairing the tail of
# a crashed file reads about a megabyte.
MEMBER_BYTES = 8 << 20
# A signature further back than this means the tail is not ours (or is
# damaged): the whole file is checked instead.
MAX_TAIL_SCAN = 64 << 20
_CHUNK = 1 << 20
_SLICE = 1 << 16  # input fed at a time while repairing, so a corrupt spot keeps what came before
OUT_LIMIT = 1 << 20  # decompressed bytes per piece: memory stays flat whatever the ratio
_ZSTD_SLICE = 1 << 15

GZIP_LEVEL = 6
ZSTD_LEVEL = 3

# gzip member header: magic, deflate, FLG=FEXTRA, MTIME=0, XFL=0, OS=255
# (unknown), XLEN=12, one extra subfield "HK" of 8 bytes. Fixed bytes, so it
# can be searched for.
GZIP_SIGNATURE = (
    b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff"
    + struct.pack("<H", 12)
    + b"HK"
    + struct.pack("<H", 8)
    + b"hkticks\x01"
)
# zstd: a skippable frame (magic 0x184D2A5B) of 8 bytes before every frame.
ZSTD_SIGNATURE = struct.pack("<II", 0x184D2A5B, 8) + b"hkticks\x01"

COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def compression_of(path: str) -> str | None:
    """``"gzip"``, ``"zstd"`` or ``None``, from the file name's last extension."""
    return COMPRESSIONS.get(os.path.splitext(path)[1].lower())


def strip_compression(path: str) -> str:
    """``path`` without a ``.gz``/``.zst`` extension (``t.jsonl.gz`` -> ``t.jsonl``)."""
    root, ext = os.path.splitext(path)
    return root if ext.lower() in COMPRESSIONS else path


def zstd_module() -> Any:
    """The ``zstandard`` module, or a :class:`UsageError` saying how to install it."""
    try:
        import zstandard
    except ImportError:
        raise UsageError(
            ".zst files need the zstandard package: pip install 'hkticks[zstd]' "
            "(or use .gz, which needs nothing)"
        ) from None
    return zstandard


# -- codecs ------------------------------------------------------------------------


class _Compressor:
    """One member at a time: ``begin`` (header), ``compress``, ``sync``, ``finish``."""

    def begin(self) -> bytes:
        raise NotImplementedError

    def compress(self, data: bytes) -> bytes:
        raise NotImplementedError

    def sync(self) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        raise NotImplementedError


class _GzipCompressor(_Compressor):
    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self.level = level
        self._c: Any = None
        self._crc = 0
        self._size = 0

    def begin(self) -> bytes:
        self._c = zlib.compressobj(self.level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
        self._crc = 0
        self._size = 0
        return GZIP_SIGNATURE

    def compress(self, data: bytes) -> bytes:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        return self._c.compress(data)  # type: ignore[no-any-return]

    def sync(self) -> bytes:
        return self._c.flush(zlib.Z_SYNC_FLUSH)  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        tail = self._c.flush(zlib.Z_FINISH)
        self._c = None
        return tail + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)  # type: ignore[no-any-return]


class _ZstdCompressor(_Compressor):
    def __init__(self, level: int = ZSTD_LEVEL) -> None:
        self._zstd = zstd_module()
        self._cctx = self._zstd.ZstdCompressor(level=level, write_checksum=True)
        self._c: Any = None

    def begin(self) -> bytes:
        self._c = self._cctx.compressobj()
        return ZSTD_SIGNATURE

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)  # type: ignore[no-any-return]

    def sync(self) -> bytes:
        return self._c.flush(self._zstd.COMPRESSOBJ_FLUSH_BLOCK)  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        tail = self._c.flush(self._zstd.COMPRESSOBJ_FLUSH_FINISH)
        self._c = None
        return tail  # type: ignore[no-any-return]


def _new_decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return zstd_module().ZstdDecompressor().decompressobj()


def _errors(kind: str) -> tuple[type[Exception], ...]:
    if kind == "gzip":
        return (zlib.error,)
    return (zstd_module().ZstdError,)


def signature_of(kind: str) -> bytes:
    return GZIP_SIGNATURE if kind == "gzip" else ZSTD_SIGNATURE


# -- reading -----------------------------------------------------------------------


class Decoder:
    """Decompresses a compressed recording chunk by chunk, never failing on bad data.

    :meth:`decode` yields the decompressed pieces of a chunk; a ``None``
    among them marks a discontinuity (corrupt data was skipped there), so the
    caller drops the line in progress. After the last chunk, :meth:`end` sets
    :attr:`truncated` when the data stopped inside a member (a crash, a copy
    cut short). :attr:`corrupt` counts damaged spots: decoding resumes at the
    next member hkticks wrote (found by its signature); a damaged member of a
    file written by another tool loses the rest of the file.

    Pure: no I/O, so readers and tests feed it whatever bytes they have.
    """

    def __init__(self, kind: str) -> None:
        if kind not in ("gzip", "zstd"):
            raise ValueError(f"unknown compression {kind!r}")
        self.kind = kind
        self.truncated = False
        self.corrupt = 0
        self.members = 0
        self._errors = _errors(kind)
        self._sig = signature_of(kind)
        self._obj: Any = None
        self._resync = False
        self._carry = b""

    def decode(self, chunk: bytes) -> Iterator[bytes | None]:
        """The decompressed pieces of ``chunk``, each at most about :data:`OUT_LIMIT` bytes.

        A generator, so a highly compressed chunk is never held whole in
        memory: take each piece before asking for the next.
        """
        data = chunk
        gzip = self.kind == "gzip"
        while data:
            if self._resync:
                data = self._carry + data
                i = data.find(self._sig)
                if i < 0:
                    self._carry = data[-(len(self._sig) - 1) :]
                    return
                self._carry = b""
                self._resync = False
                data = data[i:]
            started_here = False
            if self._obj is None:
                data = data.lstrip(b"\x00")  # zero padding between members (tape, some tools)
                if not data:
                    return
                self._obj = _new_decompressor(self.kind)
                self.members += 1
                started_here = True
            obj = self._obj
            try:
                if gzip:
                    piece = obj.decompress(data, OUT_LIMIT)
                    rest = b""
                    # output held back by the limit comes with more calls
                    while len(piece) == OUT_LIMIT and not obj.unconsumed_tail and not obj.eof:
                        yield piece
                        piece = obj.decompress(b"", OUT_LIMIT)
                else:  # zstandard has no output limit: feed it slices
                    piece = obj.decompress(data[:_ZSTD_SLICE])
                    rest = data[_ZSTD_SLICE:]
            except self._errors:
                self.corrupt += 1
                self._obj = None
                self._resync = True
                yield None
                data = data[1:] if started_here else data
                continue
            if piece:
                yield piece
            if obj.eof:
                data = obj.unused_data + rest
                self._obj = None
            elif gzip:
                data = obj.unconsumed_tail
            else:
                data = rest

    def end(self) -> None:
        """The data is over: note whether it stopped inside a member."""
        if self._obj is not None and not self._obj.eof:
            self.truncated = True
        self._obj = None


def read_prefix(fd: int, kind: str, limit: int, start: int = 0) -> tuple[bytes, bool]:
    """Up to ``limit`` decompressed bytes from ``start``; and whether that is all there is."""
    dec = Decoder(kind)
    out = bytearray()
    pos = start
    while len(out) < limit:
        chunk = os.pread(fd, _CHUNK, pos)
        if not chunk:
            dec.end()
            return bytes(out), True
        pos += len(chunk)
        for piece in dec.decode(chunk):
            if piece is None:  # damaged: what came before is all we can vouch for
                return bytes(out[:limit]), False
            out += piece
    return bytes(out[:limit]), False


# -- writing -----------------------------------------------------------------------


class CompressedLineFile:
    """A compressed file opened for appending whole lines; the twin of :class:`LineFile`.

    Same interface, so the JSONL and CSV sinks use either: opening changes
    nothing, :meth:`repair` makes a crashed tail whole, :meth:`read_head`
    gives the first decompressed bytes (the CSV header check), :meth:`write`
    appends lines, :meth:`flush` puts them in the file, :meth:`close` ends the
    member. ``size`` is the uncompressed size as far as it is known: exact
    when the file holds less than a megabyte, at least that much otherwise,
    which is all the sinks need (is it empty, is it shorter than a header).
    """

    def __init__(self, path: str, kind: str, *, level: int | None = None) -> None:
        self.path = path
        self.kind = kind
        self.repaired_bytes = 0
        if kind == "gzip":
            self._comp: _Compressor = _GzipCompressor(GZIP_LEVEL if level is None else level)
        else:
            self._comp = _ZstdCompressor(ZSTD_LEVEL if level is None else level)
        self.fd, self.regular, self.disk_size = open_for_append(path)
        self._open = False  # a member is in progress
        self._dirty = False  # input since the last sync flush
        self._member_bytes = 0
        self._broken = False  # a failed write left the member unusable
        self.size = self._content_size()
        self._synced_size = self.disk_size  # the file ends whole (decodable) here
        self._pending_lines = 0  # lines given since then, still in the compressor
        self.lost_lines = 0  # lines a failure took back (the sink uncounts them)

    def _content_size(self) -> int:
        if not self.regular or self.disk_size == 0:
            return 0
        try:
            head, complete = read_prefix(self.fd, self.kind, _CHUNK)
        except OSError as exc:
            raise open_failed(self.path, os_reason(exc)) from None
        return len(head) if complete else max(len(head), _CHUNK)

    # -- opening -------------------------------------------------------------------

    def read_head(self, n: int) -> bytes:
        """The first ``n`` decompressed bytes (fewer if there are fewer)."""
        if not self.regular or self.disk_size == 0:
            return b""
        try:
            return read_prefix(self.fd, self.kind, n)[0]
        except OSError as exc:
            raise open_failed(self.path, os_reason(exc)) from None

    def repair(self, keep_tail: Callable[[bytes], bool] | None = None) -> None:
        """Make a crashed tail whole before appending: see the module docstring.

        ``keep_tail`` is asked about a last line without its newline, as for
        :meth:`LineFile.repair` (JSONL keeps a line that is a whole object).
        A damaged file that hkticks did not write is refused, never changed.
        """
        if not self.regular or self.disk_size == 0:
            return
        try:
            start = self._last_signature()
            if start is None:
                self._check_whole_file()
                return
            tail = os.pread(self.fd, self.disk_size - start, start)
            cut, content = self._unfinished_member(tail)
            if cut is None:
                return
            keep = content[: content.rfind(b"\n") + 1]
            rest = content[len(keep) :]
            if rest and keep_tail is not None and keep_tail(rest):
                keep, rest = content + b"\n", b""
            original = tail[cut:]
            os.ftruncate(self.fd, start + cut)
            self.disk_size = self._synced_size = start + cut
            if keep:
                try:
                    self._put(self._comp.begin() + self._comp.compress(keep) + self._comp.finish())
                except PartialWrite:
                    # put the unfinished member back as it was (its blocks were
                    # just freed): a full disk must not cost the lines it holds
                    os.write(self.fd, original)
                    self.disk_size = self._synced_size = start + cut + len(original)
                    self._broken = False
                    raise
        except PartialWrite as exc:
            raise open_failed(
                self.path,
                f"cannot repair its last block ({os_reason(exc.error)}); nothing was changed",
            ) from None
        except OSError as exc:
            raise open_failed(
                self.path, f"cannot repair its last block ({os_reason(exc)})"
            ) from None
        self.repaired_bytes = len(rest)
        self.size = self._content_size()
        self._synced_size = self.disk_size

    def _last_signature(self) -> int | None:
        """Offset of the last member signature, scanning back at most :data:`MAX_TAIL_SCAN`."""
        sig = signature_of(self.kind)
        end = self.disk_size
        floor = max(0, end - MAX_TAIL_SCAN)
        while end > floor:
            start = max(floor, end - _CHUNK)
            # overlap so a signature across two chunks is seen
            block = os.pread(self.fd, min(end + len(sig) - 1, self.disk_size) - start, start)
            i = block.rfind(sig)
            if i >= 0:
                return start + i
            end = start
        return None

    def _unfinished_member(self, tail: bytes) -> tuple[int | None, bytes]:
        """Where the unfinished member of ``tail`` starts and what it decodes to.

        ``(None, b"")`` when every member in ``tail`` is complete.
        """
        errors = _errors(self.kind)
        marker = ZSTD_SIGNATURE if self.kind == "zstd" else None
        pos = 0
        n = len(tail)
        while pos < n:
            if not tail[pos:].strip(b"\x00"):
                return None, b""
            member = pos
            if marker is not None and tail.startswith(marker, pos):
                pos += len(marker)  # the zstd frame after it belongs to the same member
                if pos == n:
                    return member, b""
            obj = _new_decompressor(self.kind)
            out = bytearray()
            at = pos
            try:
                while at < n and not obj.eof:
                    out += obj.decompress(tail[at : at + _SLICE])
                    at += _SLICE
            except errors:
                return member, bytes(out)
            if not obj.eof:
                return member, bytes(out)
            pos = min(at, n) - len(obj.unused_data)
        return None, b""

    def _check_whole_file(self) -> None:
        """A tail without our signature: append only if the whole file decodes cleanly."""
        dec = Decoder(self.kind)
        pos = 0
        while True:
            chunk = os.pread(self.fd, _CHUNK, pos)
            if not chunk:
                break
            pos += len(chunk)
            for _ in dec.decode(chunk):
                pass
            if dec.corrupt:
                break
        dec.end()
        if dec.corrupt or dec.truncated:
            raise open_failed(
                self.path,
                "it is damaged and was not written by hkticks (refusing to change it); "
                f"recover its lines with `hkticks replay --json --speed max {self.path}`",
            )

    # -- writing -------------------------------------------------------------------

    def _put(self, raw: bytes) -> None:
        """Append ``raw`` whole; on failure cut the file back to its last durable point."""
        before = self._synced_size
        view = memoryview(raw)
        done = 0
        try:
            while done < len(raw):
                n = os.write(self.fd, view[done:])
                if n == 0:  # pragma: no cover - regular files never do this
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
        except OSError as exc:
            self._broken = True
            self.lost_lines += self._pending_lines
            self._pending_lines = 0
            if self.regular and (done or self.disk_size > before):
                try:
                    os.ftruncate(self.fd, before)
                    self.disk_size = before
                except OSError:
                    pass  # the reader and the next open cope with a torn tail
            raise PartialWrite(exc, 0) from None
        self.disk_size += len(raw)

    def _durable(self) -> None:
        self._synced_size = self.disk_size
        self._pending_lines = 0

    def write(self, data: bytes) -> None:
        """Compress ``data`` (complete lines) into the current member."""
        if self._broken:
            raise PartialWrite(OSError(errno.EIO, "an earlier write failed"), 0)
        parts = []
        comp = self._comp
        if not self._open:
            parts.append(comp.begin())
            self._open = True
            self._member_bytes = 0
        parts.append(comp.compress(data))
        self._member_bytes += len(data)
        self._dirty = True
        finished = self._member_bytes >= MEMBER_BYTES
        if finished:
            parts.append(comp.finish())
            self._open = False
            self._dirty = False
        raw = b"".join(parts)
        if raw:
            self._put(raw)
        self.size += len(data)
        self._pending_lines += data.count(b"\n")
        if finished:
            self._durable()

    def flush(self, fsync: bool = False) -> None:
        """Sync-flush the compressor: every line written so far is then in the file."""
        if self._dirty and not self._broken:
            try:
                self._put(self._comp.sync())
            except PartialWrite as exc:
                raise exc.error from None
            self._dirty = False
            self._durable()
        if fsync and self.regular:
            os.fsync(self.fd)

    def gone(self) -> str | None:
        return gone(self.fd, self.path) if self.regular else None

    def close(self) -> None:
        """Finish the member (so the file is complete) and close."""
        try:
            if self._open and not self._broken:
                self._open = False
                try:
                    self._put(self._comp.finish())
                except PartialWrite as exc:
                    raise exc.error from None
                self._durable()
        finally:
            os.close(self.fd)


def open_line_file(path: str) -> LineFile | CompressedLineFile:
    """A :class:`LineFile`, or a :class:`CompressedLineFile` for ``.gz``/``.zst`` paths."""
    kind = compression_of(path)
    if kind is None:
        return LineFile(path)
    return CompressedLineFile(path, kind)


def read_tail(path: str, limit: int = 1 << 20) -> bytes:
    """About the last ``limit`` decompressed bytes of a compressed file (its last lines).

    Decodes from the second-to-last member hkticks wrote (so even a member
    just started leaves enough to look at); a file without signatures is
    decoded whole, keeping only the tail. Damage and a torn end are
    tolerated: this is for a quick look (de-duplication on restart), not a
    reader.
    """
    kind = compression_of(path)
    if kind is None:
        raise ValueError(f"{path} is not compressed")
    sig = signature_of(kind)
    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        starts: list[int] = []
        end = size
        floor = max(0, size - MAX_TAIL_SCAN)
        while end > floor and len(starts) < 2:
            lo = max(floor, end - _CHUNK)
            block = os.pread(fd, min(end + len(sig) - 1, size) - lo, lo)
            hits = [lo + m.start() for m in re.finditer(re.escape(sig), block)]
            starts = sorted(set(starts) | {h for h in hits if h < end})[-2:]
            end = lo
        pos = starts[0] if starts else 0
        dec = Decoder(kind)
        tail = bytearray()
        while True:
            chunk = os.pread(fd, _CHUNK, pos)
            if not chunk:
                break
            pos += len(chunk)
            for piece in dec.decode(chunk):
                if piece is not None:
                    tail += piece
                    if len(tail) > 2 * limit:
                        del tail[: len(tail) - limit]
        return bytes(tail[-limit:])
