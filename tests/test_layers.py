"""The rooms of DESIGN.md: who may import whom, no import circles, no research in the product, readable module sizes.

Imports are read from the source (``ast``), lazy ones inside functions included, so a circle cannot hide in a
function. Not even the registration idiom is exempt: blueprints and command groups live in modules of their own,
which the package imports and the pages import, so nothing imports a package's ``__init__`` back.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "handlers", "cases", "replies", "models", "text")
OURS = {*PRODUCT, "research", "bench", "tests", "wsgi"}
# bot → handlers → cases → replies → models; every layer may use text/, which uses nothing of ours.
FORBIDDEN = {
    "models": {"flask", "wechatpy", "redis", "bot", "handlers", "cases", "replies"},
    "replies": {"flask", "wechatpy", "bot", "handlers", "cases"},
    "cases": {"flask", "wechatpy", "bot", "handlers"},
    "handlers": {"flask", "wechatpy", "bot"},
    "text": {"flask", "wechatpy", "sqlalchemy", "redis", *(OURS - {"text"})},
    "bot": {"research", "bench", "tests"},
}
MAX_LINES = 600


def _sources(package: str) -> list[Path]:
    return [p for p in sorted((ROOT / package).rglob("*.py")) if "migrations/versions" not in str(p)]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path) -> list[str]:
    """Dotted names ``path`` imports, anywhere in the file; ``from a import b`` gives ``a.b`` (b may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def _top_level(names: list[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_respect_the_dependency_rule(layer):
    offenders = {}
    for path in _sources(layer):
        bad = _top_level(_imported(path)) & FORBIDDEN[layer]
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for package in PRODUCT for p in _sources(package)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for imported in _imported(path):
            # ``from a import b``: the module a.b when it is one, else the module a.
            target = imported if imported in modules else imported.rpartition(".")[0]
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if not target or target == name:
                continue
            edges.add(target)
        graph[name] = edges
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles_in_the_product_lazy_imports_included():
    assert _circles(_graph()) == []


def test_the_circle_finder_sees_a_circle_hidden_in_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


def test_no_product_module_is_over_600_lines():
    long = {}
    for package in PRODUCT:
        for path in _sources(package):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                long[str(path.relative_to(ROOT))] = lines
    assert long == {}


def test_every_module_has_a_docstring():
    missing = []
    for layer in PRODUCT:
        for path in _sources(layer):
            if path.name == "__main__.py":
                continue
            if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None:
                missing.append(str(path.relative_to(ROOT)))
    assert missing == []
