"""The import graph: arrows point down only.

Every ``import`` in ``src/primeval`` counts, function-local ones included (a local import
that hides a cycle is still a cycle). Layers, lowest first: the engine; the shared toolkits
(``nn``, ``plots``); the apps (``algorithms``, ``nas``, ``labels``, ...), which never import
each other; the front ends (the CLI, the benchmark, the scikit-learn estimators), which may
import anything below them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "primeval"

# Top-level module or package -> layer. A new top-level name must be placed here.
LAYERS = {
    "engine": 0,
    "nn": 1,
    "datasets": 1,
    "plots": 1,
    "algorithms": 2,
    "nas": 2,
    "labels": 2,
    "layers": 2,
    "cli": 3,
    "bench": 3,
    "bench_cpp": 3,
    "sklearn": 3,
    "export": 3,
}
APPS = {name for name, layer in LAYERS.items() if layer == 2}


def module_name(path: Path) -> str:
    parts = ("primeval", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every primeval module ``path`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("primeval")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("primeval"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of modules, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in sorted(edges):
        if state.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        path = [root]
        state[root] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(edges[nxt])))
    return None


def test_the_finder_sees_a_cycle_and_a_clean_graph() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_function_local_imports_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from primeval.engine import registry\n")
    assert imports_of("primeval.x.m", path, {"primeval.engine.registry"}) == {
        "primeval.engine.registry"
    }


def test_there_is_no_import_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_top_level_module_has_a_layer() -> None:
    tops = {top(m) for m in all_modules()} - {""}
    assert tops <= set(LAYERS), f"place these in LAYERS: {sorted(tops - set(LAYERS))}"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_imports_point_down_and_apps_do_not_import_each_other(name: str) -> None:
    wrong = []
    for module, targets in graph().items():
        if top(module) != name:
            continue
        for target in targets:
            other = top(target)
            if other in ("", name) or other not in LAYERS:
                continue  # an unplaced top-level name fails the test above
            if LAYERS[other] > LAYERS[name] or (name in APPS and other in APPS):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_private_name_is_imported_from_another_module() -> None:
    private = []
    for name, path in all_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("primeval"):
                private += [
                    f"{name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not private, "private names imported across modules:\n" + "\n".join(private)


def top_level_graph() -> str:
    """The import graph between top-level packages, one line each, lowest layer first."""
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        src = top(module)
        if src:
            edges.setdefault(src, set()).update(t for t in map(top, targets) if t and t != src)
    order = sorted(edges, key=lambda n: (LAYERS.get(n, 99), n))
    width = max(map(len, order))
    return "\n".join(
        f"{name:<{width}} -> {', '.join(sorted(edges[name])) or '(nothing)'}" for name in order
    )


def test_the_architecture_page_draws_the_real_import_graph() -> None:
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    drawn = top_level_graph()
    assert drawn in page, "docs/architecture.md must hold the import graph as it is:\n" + drawn
