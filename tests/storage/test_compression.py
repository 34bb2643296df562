"""Compressed recordings (.gz, and .zst when zstandard is installed): real files, real crashes.

A crash is a child process killed with SIGKILL after it said how many lines
it had flushed; a cut file is a real file truncated; damage is a real
flipped byte. The standard ``gzip`` module (and ``zstandard``) must read
what hkticks writes, and hkticks must read what they write.
"""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hkticks.errors import OutputError, UsageError
from hkticks.storage.readers import TickFile
from hkticks.storage.sinks import compressed, open_tick_sink, tick_format
from hkticks.storage.sinks.compressed import CompressedLineFile, Decoder
from hkticks.storage.sinks.csvfile import HEADER, CsvSink
from hkticks.storage.sinks.jsonl import JsonlSink, encode_lines
from hkticks.tick import Tick

KINDS = [
    pytest.param("gz", id="gzip"),
    pytest.param(
        "zst",
        id="zstd",
        marks=pytest.mark.skipif(
            __import__("importlib").util.find_spec("zstandard") is None,
            reason="the zstandard package (extra 'zstd') is not installed",
        ),
    ),
]


def make_ticks(n: int, seed: int = 1, start: int = 0) -> list[Tick]:
    rnd = random.Random(seed)
    out = []
    for i in range(start, start + n):
        price = round(rnd.uniform(0.5, 600), 3) if i % 9 else 0.1 + 0.2
        volume = rnd.randint(1, 40) * 100
        out.append(
            Tick(
                f"{rnd.randint(1, 3000):05d}",
                1_714_613_400_000 + i * 11,
                price,
                volume,
                price * volume,
                rnd.choice(["buy", "sell", None]),
                None if i % 13 == 0 else 10_000 + i,
                1_714_613_400_005 + i * 11,
                "alltick",
            )
        )
    return out


def decompress(path: Path, kind: str) -> bytes:
    """With the reference tools: ``gzip`` reads every member; ``zstandard`` every frame."""
    data = path.read_bytes()
    if kind == "gz":
        return gzip.decompress(data)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(data)  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", KINDS)
def test_jsonl_and_csv_compressed_read_back_by_the_standard_tools(
    tmp_path: Path, kind: str
) -> None:
    ticks = make_ticks(3000)
    j = JsonlSink(str(tmp_path / f"t.jsonl.{kind}"))
    c = CsvSink(str(tmp_path / f"t.csv.{kind}"))
    for i in range(0, 3000, 170):
        j.write(ticks[i : i + 170])
        c.write(ticks[i : i + 170])
        if i % 3:
            j.flush()
            c.flush()
    j.close()
    c.close()
    assert decompress(tmp_path / f"t.jsonl.{kind}", kind) == encode_lines(ticks)
    text = decompress(tmp_path / f"t.csv.{kind}", kind)
    assert text.startswith(HEADER) and text.count(b"\n") == 3001
    assert list(TickFile(str(tmp_path / f"t.jsonl.{kind}"))) == ticks
    assert list(TickFile(str(tmp_path / f"t.csv.{kind}"))) == ticks
    assert os.path.getsize(tmp_path / f"t.jsonl.{kind}") < len(encode_lines(ticks)) / 2


def test_files_written_by_gzip_itself_are_read_and_appended_to(tmp_path: Path) -> None:
    ticks = make_ticks(500)
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress(encode_lines(ticks[:200])))
    sink = JsonlSink(str(path))
    sink.write(ticks[200:])
    sink.close()
    assert gzip.decompress(path.read_bytes()) == encode_lines(ticks)
    assert list(TickFile(str(path))) == ticks


def test_a_damaged_foreign_gzip_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    data = gzip.compress(encode_lines(make_ticks(300)))
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    with pytest.raises(OutputError) as err:
        JsonlSink(str(path))
    assert "not written by hkticks" in str(err.value) and "hkticks replay" in str(err.value)
    assert path.read_bytes() == before
    # ... but every complete line in it can still be read
    got = list(TickFile(str(path)))
    assert got == make_ticks(300)[: len(got)] and got


CHILD = textwrap.dedent(
    """
    import sys
    from hkticks.storage.sinks.jsonl import JsonlSink
    sys.path.insert(0, {tests!r})
    from test_compression import make_ticks
    sink = JsonlSink(sys.argv[1])
    ticks = make_ticks(100_000)
    done = 0
    for i in range(0, len(ticks), 100):
        sink.write(ticks[i : i + 100])
        if i % 300 == 0:
            sink.flush()
            done = i + 100
            print(done, flush=True)
    """
)


@pytest.mark.parametrize("kind", KINDS)
def test_after_sigkill_readers_keep_every_flushed_line_and_reopening_repairs(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"t.jsonl.{kind}"
    code = CHILD.format(tests=str(Path(__file__).parent))
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    flushed = 0
    for line in child.stdout:
        flushed = int(line)
        if flushed >= 20_000:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    ticks = make_ticks(100_000)
    reader = TickFile(str(path))
    got = list(reader)
    # every line flushed before the kill is there, in order, and nothing invented
    assert len(got) >= flushed
    assert got == ticks[: len(got)]
    assert reader.report.bad == 0
    # the standard tool sees an unfinished stream (gzip: "ended before the end-of-stream marker")
    if kind == "gz":
        with pytest.raises(EOFError):
            gzip.decompress(path.read_bytes())
    # appending first finishes the crashed tail: then the file is whole again
    sink = JsonlSink(str(path))
    sink.write(ticks[len(got) : len(got) + 10])
    sink.close()
    assert decompress(path, kind) == encode_lines(ticks[: len(got) + 10])


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_cut_anywhere_gives_a_prefix_of_complete_lines(tmp_path: Path, kind: str) -> None:
    ticks = make_ticks(400)
    path = tmp_path / f"t.jsonl.{kind}"
    sink = JsonlSink(str(path))
    for i in range(0, 400, 40):
        sink.write(ticks[i : i + 40])
        sink.flush()
    sink.close()
    data = path.read_bytes()
    cut_path = tmp_path / f"cut.jsonl.{kind}"
    rnd = random.Random(5)
    cuts = sorted({*rnd.sample(range(1, len(data)), 60), *range(len(data) - 30, len(data))})
    for cut in cuts:
        cut_path.write_bytes(data[:cut])
        reader = TickFile(str(cut_path))
        got = list(reader)
        assert got == ticks[: len(got)], cut
        assert reader.report.bad == 0
        assert reader.report.torn == 1, cut  # every cut leaves the stream unfinished


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_block_is_skipped_to_the_next_one(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compressed, "MEMBER_BYTES", 8_000)  # many small members
    ticks = make_ticks(2000)
    path = tmp_path / f"t.jsonl.{kind}"
    sink = JsonlSink(str(path))
    for i in range(0, 2000, 50):
        sink.write(ticks[i : i + 50])
    sink.close()
    data = bytearray(path.read_bytes())
    sig = compressed.GZIP_SIGNATURE if kind == "gz" else compressed.ZSTD_SIGNATURE
    starts = [i for i in range(len(data)) if data.startswith(sig, i)]
    assert len(starts) > 10
    # flip a byte in the middle of the 5th member's data
    victim = (starts[4] + starts[5]) // 2
    data[victim] ^= 0x55
    path.write_bytes(bytes(data))
    reader = TickFile(str(path))
    got = list(reader)
    assert reader.report.corrupt == 1
    # what came before the damage and every later member are intact, in order
    assert got[:100] == ticks[:100]
    assert got[-500:] == ticks[-500:]
    assert 2000 - 200 <= len(got) < 2000
    assert all(t in ticks for t in got[:: max(1, len(got) // 50)])
    assert "damaged" in str(reader.report.summary())


@pytest.mark.parametrize("kind", KINDS)
def test_csv_header_rules_hold_for_compressed_files(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"t.csv.{kind}"
    other = tmp_path / f"other.csv.{kind}"
    f = CompressedLineFile(str(other), "gzip" if kind == "gz" else "zstd")
    f.write(b"a,b,c\n1,2,3\n")
    f.close()
    with pytest.raises(OutputError) as err:
        CsvSink(str(other))
    assert "already holds other CSV data" in str(err.value)
    # a file holding only part of a header (a crash right at the start) is taken over
    f = CompressedLineFile(str(path), "gzip" if kind == "gz" else "zstd")
    f.write(HEADER[:10])
    f.flush()
    os.close(f.fd)  # no close(): the member stays unfinished, as after a crash
    sink = CsvSink(str(path))
    assert sink.repaired_bytes == 10
    sink.write(make_ticks(5))
    sink.close()
    assert decompress(path, kind).startswith(HEADER)
    assert list(TickFile(str(path))) == make_ticks(5)
    # reopening a good one appends without a second header
    sink = CsvSink(str(path))
    sink.write(make_ticks(5, start=5))
    sink.close()
    assert decompress(path, kind).count(b"symbol,") == 1
    assert list(TickFile(str(path))) == make_ticks(5) + make_ticks(5, start=5)


def test_decoder_takes_any_split_of_the_bytes() -> None:
    c = compressed._GzipCompressor()
    payload = b"".join(b'{"n":%d}\n' % i for i in range(5000))
    blob = (
        c.begin()
        + c.compress(payload[:30000])
        + c.sync()
        + c.compress(payload[30000:])
        + c.finish()
    )
    blob += blob  # two members
    rnd = random.Random(3)
    for _ in range(20):
        dec = Decoder("gzip")
        out = bytearray()
        pos = 0
        while pos < len(blob):
            step = rnd.randint(1, 4000)
            for piece in dec.decode(blob[pos : pos + step]):
                assert piece is not None
                out += piece
            pos += step
        dec.end()
        assert bytes(out) == payload * 2
        assert not dec.truncated and dec.corrupt == 0


def test_unsupported_combinations_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        tick_format("t.db.gz")
    assert "cannot be compressed" in str(err.value)
    assert tick_format("t.jsonl.gz") == "jsonl"
    assert tick_format("t.CSV.GZ") == "csv"
    with pytest.raises(UsageError):
        tick_format("t.gz")


def test_zst_without_zstandard_says_how_to_install(tmp_path: Path) -> None:
    """Run where ``zstandard`` cannot be imported (a real child process with it blocked)."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["zstandard"] = None  # makes `import zstandard` fail, as when not installed
        from hkticks.cli import main
        main(["stats", sys.argv[1]])
        """
    )
    path = tmp_path / "t.jsonl.zst"
    path.write_bytes(b"")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "pip install 'hkticks[zstd]'" in r.stderr and "Traceback" not in r.stderr


def test_rotation_and_compression_together(tmp_path: Path) -> None:
    from hkticks.storage.sinks.rotating import parse_rotate

    sink = open_tick_sink(str(tmp_path / "t.csv.gz"), parse_rotate("3kB"), clock=lambda: 0)
    ticks = make_ticks(3000)
    for i in range(0, 3000, 100):
        sink.write(ticks[i : i + 100])
        sink.flush()
    sink.close()
    files = sorted(tmp_path.glob("t-*.csv.gz"))
    assert len(files) >= 2
    got = []
    for f in files:
        text = gzip.decompress(f.read_bytes())
        assert text.startswith(HEADER) and text.count(HEADER) == 1
        got += list(TickFile(str(f)))
    assert got == ticks
