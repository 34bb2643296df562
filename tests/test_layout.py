"""The package layout stays true: parts are folders and no import runs upward.

Data flows one way (symbols -> feed -> queue -> consumers); each part may
import only the parts below it. Every ``import`` in a module counts, those
inside functions too: a lazy import is still an arrow. The entry points
have their arrows too: the library never imports ``cli``, a command never
imports another command, and no two modules import each other (directly
or round a circle).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from hkticks.cli import COMMANDS

PACKAGE = Path(__file__).resolve().parent.parent / "hkticks"

# The shared base every part may use.
BASE = {"tick", "errors", "hkex"}
# What each part (a folder, or a shared top-level module) may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "tick": set(),
    "errors": set(),
    "market_hours": set(BASE),
    "hkex": set(BASE),
    "stopping": set(BASE),
    "alltick": set(BASE),
    "config": BASE | {"alltick"},
    "symbols": BASE | {"alltick", "config", "market_hours"},
    "feed": BASE | {"alltick", "config", "market_hours", "stopping"},
    "storage": BASE | {"alltick", "config", "market_hours", "stopping", "feed"},
    "analysis": BASE
    | {"alltick", "config", "market_hours", "stopping", "feed", "storage", "symbols"},
    "watch": BASE
    | {"alltick", "config", "market_hours", "stopping", "feed", "storage", "symbols", "analysis"},
    # The embedded server stands beside the client: it may use the protocol and the
    # replay clock, never the client's sessions, storage or screens.
    "server": BASE | {"alltick", "config", "market_hours", "analysis"},
    # The use-case layer composes every part below the CLI (the demo market is a source).
    "run": BASE
    | {
        "alltick",
        "config",
        "market_hours",
        "stopping",
        "feed",
        "storage",
        "symbols",
        "analysis",
        "watch",
        "server",
    },
}
_LIBRARY = set(ALLOWED) - {"tick", "errors"} | BASE
# The entry points: the Python API over the use-case layer, the bench (which times
# the API too), the CLI over both; ``import hkticks`` names the API lazily.
ALLOWED["api"] = _LIBRARY - {"server", "watch"}
ALLOWED["bench"] = _LIBRARY | {"api"}
ALLOWED["cli"] = _LIBRARY | {"bench", "__init__"}  # ``__version__``
ALLOWED["__init__"] = {"api", "errors", "tick"}
ALLOWED["__main__"] = {"cli"}
# Parts that make up the client side: none of them may import the server.
CLIENT_SIDE = set(ALLOWED) - {"server", "run", "bench", "cli", "__init__", "__main__"}
TOP_LEVEL_MODULE_LIMIT = 8


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_parts(path: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, part) for every hkticks import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pytest.fail(
                    f"{path}:{node.lineno}: relative import; use absolute hkticks.* imports"
                )
            module = node.module or ""
            if module == "hkticks":  # a part, or a name of the package (``__version__``)
                names = [
                    f"hkticks.{a.name}"
                    if (PACKAGE / a.name).is_dir() or (PACKAGE / f"{a.name}.py").exists()
                    else "hkticks.__init__"
                    for a in node.names
                ]
            else:
                names = [module]
        else:
            continue
        for name in names:
            bits = name.split(".")
            if bits[0] == "hkticks" and len(bits) > 1:
                found.append((node.lineno, name, bits[1]))
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_is_known() -> None:
    parts = {part_of(p) for p in modules()}
    unknown = parts - set(ALLOWED)
    assert not unknown, f"new part(s) {sorted(unknown)}: add them to ALLOWED with their arrows"


def test_no_import_runs_upward() -> None:
    arrows = []
    for path in modules():
        part = part_of(path)
        for line, name, target in imported_parts(path):
            if target != part and target not in ALLOWED[part]:
                arrows.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {part} -> {name}")
    assert not arrows, "imports that run upward:\n" + "\n".join(arrows)


def test_the_library_never_imports_the_cli() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path in modules()
        if part_of(path) not in ("cli", "__main__")
        for line, name, target in imported_parts(path)
        if target == "cli"
    ]
    assert not offenders


def test_commands_never_import_each_other() -> None:
    commands = {target.partition(":")[0] for target in COMMANDS.values()}
    offenders = []
    for module in sorted(commands):
        path = PACKAGE.parent / (module.replace(".", "/") + ".py")
        for line, name, _target in imported_parts(path):
            other = next((c for c in commands if name == c or name.startswith(c + ".")), None)
            if other is not None and other != module:
                offenders.append(f"{module}:{line}: imports the command {other}")
    assert not offenders, "\n".join(offenders)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the hkticks modules it imports (``from pkg import module`` is the module)."""
    names = {module_name(p): p for p in modules()}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        out: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                wanted = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module
                    for a in node.names
                ]
            else:
                continue
            for target in wanted:
                while target and target not in names:
                    target = target.rpartition(".")[0]
                if target.startswith("hkticks") and target != name:
                    out.add(target)
        graph[name] = out
    return graph


def circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_import_circles() -> None:
    found = circles(import_graph())
    assert not found, f"import circles: {sorted(sorted(c) for c in found)}"


def test_the_circle_check_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == {frozenset({"a", "b", "c"})}
    assert circles({"a": {"b"}, "b": set()}) == set()


def test_client_side_never_imports_the_server() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path in modules()
        if part_of(path) in CLIENT_SIDE
        for line, name, target in imported_parts(path)
        if target == "server"
    ]
    assert not offenders


def test_parts_are_folders_with_a_charter() -> None:
    top_modules = [
        p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}
    ]
    assert len(top_modules) <= TOP_LEVEL_MODULE_LIMIT, sorted(top_modules)
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "Must not" in doc, (
            f"{folder.name}/__init__.py must say what the part owns and what it must not do"
        )


def test_the_checker_sees_an_upward_arrow(tmp_path: Path) -> None:
    """The walk above would catch a storage module importing the board (not vacuous)."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from hkticks.watch.view import Board\n", encoding="utf-8")
    found = imported_parts(bad)
    assert found == [(2, "hkticks.watch.view", "watch")]
    assert "watch" not in ALLOWED["storage"]


def test_the_use_case_layer_neither_parses_options_nor_prints() -> None:
    """run/ is shared by the CLI and the Python API: no click, no print, no exit."""
    offenders = []
    for path in sorted((PACKAGE / "run").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                if any(n.split(".")[0] == "click" for n in names):
                    offenders.append(f"{path.name}:{node.lineno}: imports click")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "print":
                    offenders.append(f"{path.name}:{node.lineno}: print()")
            elif isinstance(node, ast.Attribute) and node.attr in ("exit", "stdout", "stderr"):
                if isinstance(node.value, ast.Name) and node.value.id == "sys":
                    offenders.append(f"{path.name}:{node.lineno}: sys.{node.attr}")
    assert not offenders, offenders
