"""The house rules of docs/architecture.md, read from the code with `ast` (nothing imported):
imports run one way, no cycle between folders, the composition root imported by nobody,
`routing/` on the event vocabulary and the Redis connection only, small modules and pages.

An import counts wherever it is written (inside a function or under TYPE_CHECKING too): a
lazy import hides a cycle from Python, not from a reader."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contactcenter", "routing", "channels", "agent_console")
COMPOSITION_ROOT = (
    "contactcenter.app",
    "contactcenter.background",
    "contactcenter.site_settings",
    "contactcenter.cli",
    "contactcenter.cli_admin",
    "contactcenter.cli_agents",
    "contactcenter.cli_agents_commands",
    "contactcenter.cli_agents_import",
    "contactcenter.cli_teams",
    "contactcenter.cli_crm",
    "contactcenter.cli_storage",
    "contactcenter.__main__",
)
# `from contactcenter.core import events` also names the (empty) package itself.
ROUTING_MAY_USE = (
    "contactcenter.core",
    "contactcenter.core.events",
    "contactcenter.core.redisconn",
)
MAX_MODULE_LINES = 400
MAX_PAGE_LINES = 600
MAX_MODULES_PER_FOLDER = 20


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The project's modules `name` imports (a `from package import module` names the module)."""
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package[: len(package) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in set(known) and m != name}


def folder(name: str, mods: dict[str, Path]) -> str:
    return str(mods[name].parent.relative_to(ROOT))


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the groups of nodes that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return groups


MODS = modules()
EDGES = {name: imports_of(name, path, MODS) for name, path in MODS.items()}


def test_no_import_cycle_between_files_of_different_folders() -> None:
    crossing = [
        sorted(group)
        for group in strongly_connected(EDGES)
        if len({folder(m, MODS) for m in group}) > 1
    ]
    assert crossing == []


def test_no_import_cycle_between_folders() -> None:
    folders: dict[str, set[str]] = {}
    for name, targets in EDGES.items():
        here = folder(name, MODS)
        folders.setdefault(here, set())
        for target in targets:
            there = folder(target, MODS)
            folders.setdefault(there, set())
            if there != here:
                folders[here].add(there)
    assert [sorted(group) for group in strongly_connected(folders)] == []


def test_nothing_imports_the_composition_root() -> None:
    importers = {
        (name, target)
        for name, targets in EDGES.items()
        for target in targets
        if target in COMPOSITION_ROOT and name not in COMPOSITION_ROOT
    }
    assert importers == set()


def test_routing_uses_only_the_event_vocabulary_and_the_redis_connection() -> None:
    outside = {
        (name, target)
        for name, targets in EDGES.items()
        if name.startswith("routing")
        for target in targets
        if not target.startswith("routing") and target not in ROUTING_MAY_USE
    }
    assert outside == set()


def test_channels_and_consoles_read_no_application_key_from_the_app_factory() -> None:
    for name, targets in EDGES.items():
        if name.startswith(("channels", "agent_console")):
            assert not {t for t in targets if t.startswith(COMPOSITION_ROOT)}, name


def test_modules_stay_small() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in MODS.values()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_pages_and_their_scripts_stay_small() -> None:
    static = ROOT / "agent_console" / "static"
    files = [p for p in static.rglob("*") if p.suffix in (".js", ".html", ".css")]
    assert files, "the pages are where docs/architecture.md says"
    long = {
        str(p.relative_to(ROOT)): lines
        for p in files
        if (lines := len(p.read_text().splitlines())) > MAX_PAGE_LINES
    }
    assert long == {}


def test_no_folder_holds_more_than_about_twenty_modules() -> None:
    crowded = {}
    for path in {p.parent for p in MODS.values()}:
        count = len([p for p in path.glob("*.py") if p.name != "__init__.py"])
        if count > MAX_MODULES_PER_FOLDER:
            crowded[str(path.relative_to(ROOT))] = count
    assert crowded == {}


def test_the_checks_see_the_imports_they_judge() -> None:
    """The graph is not empty by mistake: known edges of the house are in it."""
    assert "contactcenter.core.events" in EDGES["routing.state"]
    assert "contactcenter.conversations.service" in EDGES["contactcenter.app"]
    assert "contactcenter.crm.api.schemas" in EDGES["contactcenter.crm.api.customers"]


def test_every_package_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages by hand: a new folder left out of it would be
    missing from an installed hub (an editable install would not show it)."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    packages = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in PACKAGES
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert packages - listed == set()
