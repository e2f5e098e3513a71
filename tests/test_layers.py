"""The dependency rule of DESIGN.md: handlers/, replies/, models/ import neither Flask nor wechatpy, nor bot."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "models": {"flask", "wechatpy", "bot", "handlers", "replies", "redis"},
    "replies": {"flask", "wechatpy", "bot", "handlers"},
    "handlers": {"flask", "wechatpy", "bot"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_respect_the_dependency_rule(layer):
    offenders = {}
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[layer]
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_every_module_has_a_docstring():
    missing = []
    for layer in ("bot", "handlers", "replies", "models"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            if "migrations/versions" in str(path) or path.name == "__main__.py":
                continue
            if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None:
                missing.append(str(path.relative_to(ROOT)))
    assert missing == []
