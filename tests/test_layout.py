"""The package layout stays true: parts are folders and no import runs upward.

Data flows one way (symbols -> feed -> queue -> consumers); each part may
import only the parts below it. Every ``import`` in a module counts, those
inside functions too: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
# Entry points: they assemble the parts and may import any of them.
ENTRY_POINTS = {"cli", "bench", "api", "__main__", "__init__"}
# Parts that make up the client side: none of them may import the server.
CLIENT_SIDE = set(ALLOWED) - {"server", "run"}
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
            if module == "hkticks":
                names = [f"hkticks.{alias.name}" for alias in node.names]
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
    unknown = parts - set(ALLOWED) - ENTRY_POINTS
    assert not unknown, f"new part(s) {sorted(unknown)}: add them to ALLOWED with their arrows"


def test_no_import_runs_upward() -> None:
    arrows = []
    for path in modules():
        part = part_of(path)
        if part in ENTRY_POINTS:
            continue
        for line, name, target in imported_parts(path):
            if target != part and target not in ALLOWED[part]:
                arrows.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {part} -> {name}")
    assert not arrows, "imports that run upward:\n" + "\n".join(arrows)


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
