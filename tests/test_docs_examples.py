"""Every ``hkticks ...`` example of README.md and of each command's ``--help`` runs.

The examples are extracted from the docs, not copied here, so the docs cannot
drift from what the commands accept. Each group of examples (a README section,
one command's help) runs in order in its own empty directory with an empty
config and cache, so an example may use a file an earlier one of its group
made, exactly as a reader following the section would; groups run in parallel.

What the test changes, and only to keep the run short and offline:

* streaming commands get ``--duration`` (Click keeps the last value given),
  ``bench`` gets a small ``--ticks``/``--trials``/``--seconds``, ``--soak``
  a few seconds and loses ``--check``: a bench example reports its targets
  and cannot fail on speed (a busy machine misses them);
* the fixed port 8765 (and 8766) becomes a free port, so parallel test runs
  cannot collide;
* servers (``hkticks serve``, ``replay --serve``) run in the background
  while the rest of their group runs, then get Ctrl-C (SIGINT) and must
  exit 0.

Lines of a README block running ``openssl`` (:data:`SETUP_TOOLS`: making a
certificate) run too, in order, as the set-up of the examples after them.

Examples marked ``# needs a token`` (AllTick's real feed) or ``# needs
network`` (the exchanges' real lists) are the only ones not run. Pipelines
(``| jq``, ``| wc -l``, ``> file``) run as pipelines of processes, no shell.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from kit.ports import listening
from kit.waiting import wait_until

from hkticks.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ONLINE = re.compile(r"#\s*needs (a token|network|nats-server|PostgreSQL|a webhook|notify-send)\b")
RUN_FOR = "2s"  # --duration given to each streaming example
SERVER_WORDS = ("serve",)  # a command that serves until stopped
# other commands of a README block that run too: the set-up the next examples need
# (``openssl req ...`` making the certificate ``serve --tls-cert`` reads)
SETUP_TOOLS = ("openssl",)


@dataclass
class Example:
    group: str
    line: str  # as written in the docs (continuation lines joined)
    online: bool = False


@dataclass
class Group:
    name: str
    examples: list[Example] = field(default_factory=list)


# -- extraction --------------------------------------------------------------------


def _is_hkticks_line(line: str) -> bool:
    """Whether a command of the line (``a && b | c``, after ``VAR=value``s) is hkticks."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:
        return False
    first = True
    for tok in tokens:
        if tok in ("|", "&&", ";", "||"):
            first = True
        elif first and not re.match(r"^[A-Z_][A-Z0-9_]*=", tok):
            if tok == "hkticks":
                return True
            first = False
    return False


def readme_groups(text: str | None = None) -> list[Group]:
    """The ``hkticks`` lines of README.md's ``sh`` blocks, one group per ``##``/``###`` section."""
    text = README.read_text(encoding="utf-8") if text is None else text
    groups: list[Group] = []
    current = Group("README: (top)")
    in_block = False
    pending = ""
    for raw in text.splitlines():
        if not in_block and raw.startswith("#"):
            if current.examples:
                groups.append(current)
            current = Group("README: " + raw.lstrip("#").strip())
            continue
        if raw.startswith("```"):
            in_block = not in_block and raw.strip() in ("```sh", "```bash", "```console")
            pending = ""
            continue
        if not in_block:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if _is_hkticks_line(line) or line.split(" ", 1)[0] in SETUP_TOOLS:
            current.examples.append(Example(current.name, line, bool(ONLINE.search(line))))
    if current.examples:
        groups.append(current)
    return groups


def help_groups() -> list[Group]:
    """The example lines of ``hkticks --help`` and of each command's ``--help``."""
    groups = []
    ctx = click.Context(cli, info_name="hkticks")
    texts = [("hkticks --help", cli.get_help(ctx))]
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, name
        sub = click.Context(command, info_name=name, parent=ctx)
        texts.append((f"hkticks {name} --help", command.get_help(sub)))
    for title, text in texts:
        group = Group(title)
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("hkticks ") and not line.startswith("hkticks [OPTIONS]"):
                group.examples.append(Example(title, line, bool(ONLINE.search(line))))
        groups.append(group)
    return groups


# -- running -----------------------------------------------------------------------


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no two free consecutive ports")


@dataclass
class Stage:
    env: dict[str, str]
    argv: list[str]


def parse_line(line: str) -> tuple[list[Stage], str | None]:
    """A docs line -> its pipeline stages (env assignments, argv) and a ``>`` target.

    ``a && b``: everything before the first hkticks command (``pip install .``)
    is the set-up the reader already did, and is left out.
    """
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    while "&&" in tokens:
        cut = tokens.index("&&")
        head = tokens[:cut]
        assert "hkticks" not in head, f"two commands chained in one example: {line}"
        tokens = tokens[cut + 1 :]
    out: str | None = None
    if ">" in tokens:
        cut = tokens.index(">")
        out = tokens[cut + 1]
        tokens = tokens[:cut]
    stages: list[Stage] = []
    words: list[str] = []
    for tok in [*tokens, "|"]:
        if tok != "|":
            words.append(tok)
            continue
        env: dict[str, str] = {}
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        assert words, f"empty pipeline stage in {line}"
        stages.append(Stage(env, words))
        words = []
    return stages, out


def bounded(argv: list[str], port: int | None = None) -> list[str]:
    """The argv of an hkticks stage with the bounds this test adds (see the module doc)."""
    assert argv[0] == "hkticks"
    args = argv[1:]
    command = next((a for a in args if not a.startswith("-")), "")
    extra: list[str] = []
    serves = command == "serve" or "--serve" in args or (command == "replay" and "--dash" in args)
    if port is not None and serves and "--port" not in args:
        extra = ["--port", str(port)]  # the default, 8765, made a free one
    elif command in ("watch", "record", "alerts"):
        extra = ["--duration", RUN_FOR]
    elif command == "dash":
        extra = ["--duration", RUN_FOR] + ([] if "--port" in args else ["--port", "0"])
    elif command == "bench":
        # speed is never a test's pass/fail: bench's --check (exit 1 on a missed target) is dropped
        args = [a for a in args if a != "--check"]
        extra = ["--ticks", "1000", "--trials", "1", "--seconds", "1s", "--latency-warmup", "0.2s"]
        if "--soak" in args:
            extra += ["--soak", "3s", "--soak-interval", "0.5s"]
        if "--watch" in args:
            extra += ["--no-watch"]  # the live-board CPU figure alone takes 14 s
    return [sys.executable, "-m", "hkticks", *args, *extra]


def is_server(stages: list[Stage]) -> bool:
    args = stages[0].argv
    return args[0] == "hkticks" and (
        args[1:2] == ["serve"]
        or "--serve" in args
        or (args[1:2] == ["replay"] and "--dash" in args)
    )


def _env(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(extra)
    return env


class PortTaken(Exception):
    """The free ports picked for a group were taken before its server listened (another
    test's connection got one of them as its local port): the group runs again on others."""


def _wait_listening(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    """Until the server listens and has said how to stop it (its Ctrl-C handling is set)."""

    def up() -> bool:
        if proc.poll() is not None:
            said = log.read_text(errors="replace")
            if "the port is in use" in said:
                raise PortTaken(said)
            raise AssertionError(
                f"the server exited with {proc.returncode} before listening: {said[-1000:]}"
            )
        return "Ctrl-C" in log.read_text(errors="replace") and listening(port)

    wait_until(up, timeout, f"the server to listen on {port}")


_SELF_CONTAINED = ("hkticks bench",)  # needs no file of its group, makes none another needs


def _key(ex: Example) -> str:
    return ex.line.split("#", 1)[0].strip()


def self_contained(ex: Example) -> bool:
    return _key(ex).startswith(_SELF_CONTAINED)


def cases(groups: list[Group]) -> list[Group]:
    """The tests: each group's examples that use one another's files, in order, as one case,
    and each self-contained example (a benchmark: the slowest examples) as a case of its own,
    so a parallel run spreads them. One written the same in two places (README and --help)
    runs once, where it is first written."""
    out: list[Group] = []
    seen: set[str] = set()
    for group in groups:
        rest = Group(group.name)
        alone: list[Group] = []
        for ex in group.examples:
            if ex.online:
                continue
            if not self_contained(ex):
                rest.examples.append(ex)
            elif _key(ex) not in seen:
                seen.add(_key(ex))
                alone.append(Group(f"{group.name}: {_key(ex)}", [ex]))
        out += ([rest] if rest.examples else []) + alone
    return out


def run_group(group: Group, workdir: Path) -> list[str]:
    """Run a group's examples in order; returns one line per failure."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port_pair()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HKTICKS_", "ALLTICK_"))}
    base["XDG_CONFIG_HOME"] = str(workdir / ".config")
    base["XDG_CACHE_HOME"] = str(workdir / ".cache")
    base["COLUMNS"] = "120"
    failures: list[str] = []
    servers: list[tuple[Example, subprocess.Popen[bytes], Path]] = []
    try:
        for ex in group.examples:
            if ex.online:
                continue
            line = ex.line.replace("8766", str(port + 1)).replace("8765", str(port))
            stages, target = parse_line(line)
            for stage in stages:
                tool = stage.argv[0]
                if tool != "hkticks" and shutil.which(tool) is None:
                    pytest.fail(f"{tool} is needed by the example {ex.line!r}: install it")
            log = workdir / f".server-{len(servers)}.log"
            if is_server(stages):
                # servers in one group are alternatives on one port: the latest one serves
                for old in servers:
                    failures += _stop_server(*old)
                servers = []
                with open(log, "wb") as fh:
                    proc = subprocess.Popen(
                        bounded(stages[0].argv, port),
                        cwd=workdir,
                        env=_env(base, stages[0].env),
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                    )
                servers.append((ex, proc, log))
                _wait_listening(port, proc, log)
                continue
            failures += _run_pipeline(ex, stages, target, workdir, base)
    finally:
        for old in servers:
            failures += _stop_server(*old)
    return failures


def _stop_server(ex: Example, proc: subprocess.Popen[bytes], log: Path) -> list[str]:
    """Ctrl-C a background server: it must stop cleanly (exit 0)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    text = log.read_text(errors="replace")
    if rc != 0 or "Traceback" in text:
        return [f"{ex.group}: {ex.line!r} (server) exited {rc}: {text[-600:]}"]
    return []


def _run_pipeline(
    ex: Example, stages: list[Stage], target: str | None, workdir: Path, base: dict[str, str]
) -> list[str]:
    procs: list[tuple[Stage, subprocess.Popen[bytes]]] = []
    sink = open(workdir / target, "wb") if target else None
    err_files = []
    try:
        prev = None
        for i, stage in enumerate(stages):
            last = i == len(stages) - 1
            argv = bounded(stage.argv) if stage.argv[0] == "hkticks" else stage.argv
            err = open(workdir / f".stderr-{id(stage)}", "w+b")
            err_files.append(err)
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=_env(base, stage.env),
                stdin=prev.stdout if prev is not None else subprocess.DEVNULL,
                stdout=(sink or subprocess.DEVNULL) if last else subprocess.PIPE,
                stderr=err,
            )
            if prev is not None and prev.stdout is not None:
                prev.stdout.close()  # the next stage owns it now
            procs.append((stage, proc))
            prev = proc
        failures = []
        for (stage, proc), err in zip(procs, err_files, strict=True):
            try:
                rc = proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            err.seek(0)
            text = err.read().decode(errors="replace")
            # a recording example that recorded nothing did not show what it says
            if rc != 0 or "Traceback" in text or "recorded 0 ticks" in text:
                failures.append(
                    f"{ex.group}: {ex.line!r}: {stage.argv[0]} exited {rc}: {text[-600:]}"
                )
        return failures
    finally:
        if sink is not None:
            sink.close()
        for err in err_files:
            err.close()
            os.unlink(err.name)


# -- the tests -----------------------------------------------------------------------


def test_extraction_finds_the_examples() -> None:
    readme = readme_groups()
    helps = help_groups()
    lines = [ex.line for g in readme for ex in g.examples]
    assert len(lines) >= 25, lines
    assert any("hkticks watch 00700 09988 --demo" in line for line in lines)
    # every command documents examples in its help, and the marks are found
    assert all(g.examples for g in helps), [g.name for g in helps if not g.examples]
    assert any(ex.online for g in readme for ex in g.examples)
    offline = [ex for g in readme + helps for ex in g.examples if not ex.online]
    assert len(offline) >= 0.7 * sum(len(g.examples) for g in readme + helps)


def test_parse_line_pipelines_env_and_redirects() -> None:
    stages, out = parse_line(
        "A=1 B=x hkticks watch 00700 --json --demo | jq .price > p.txt   # a comment"
    )
    assert [s.argv for s in stages] == [
        ["hkticks", "watch", "00700", "--json", "--demo"],
        ["jq", ".price"],
    ]
    assert stages[0].env == {"A": "1", "B": "x"} and out == "p.txt"
    stages, out = parse_line("pip install . && hkticks watch 700 --demo")
    assert [s.argv for s in stages] == [["hkticks", "watch", "700", "--demo"]] and out is None
    stages, _ = parse_line(
        """hkticks stats d/ --json | jq '.per_symbol[] | select(.symbol=="00700")'"""
    )
    assert stages[1].argv == ["jq", '.per_symbol[] | select(.symbol=="00700")']
    assert ONLINE.search("hkticks record 700 --out t.jsonl   # needs a token")


def test_cases_run_every_offline_example_once() -> None:
    groups = readme_groups() + help_groups()
    ran = [_key(ex) for case in CASES for ex in case.examples]
    offline = {_key(ex) for g in groups for ex in g.examples if not ex.online}
    assert set(ran) == offline
    shared = [k for k in ran if self_contained(Example("", k))]
    assert shared and len(shared) == len(set(shared))  # each benchmark once
    # the others keep their group's order (a later example may read an earlier one's file)
    for g in groups:
        kept = [ex.line for ex in g.examples if not ex.online and not self_contained(ex)]
        assert kept == [ex.line for c in CASES if c.name == g.name for ex in c.examples]


CASES = cases(readme_groups() + help_groups())


@pytest.mark.parametrize("group", CASES, ids=lambda g: g.name)
def test_every_example_runs_offline(group: Group, tmp_path: Path) -> None:
    """Each README section and each --help in order, in its own empty folder; each benchmark
    example on its own (the cases are separate tests, so a parallel run spreads them)."""
    for attempt in range(3):
        try:
            failures = run_group(group, tmp_path / f"run{attempt}")
            break
        except PortTaken as taken:
            last = str(taken)
    else:
        pytest.fail(f"the ports picked were taken three times over: {last[-500:]}")
    assert not failures, "\n".join(failures)
