"""The folders are the architecture: each layer imports only the layers below it.

Edges (command line, REST API, web pages, worker) call the use cases (services); use cases call
the core (domain, process), the store, imports and analytics; the core imports nothing of the
rest. The REST API and the web pages share only ``server`` (dependencies, errors, the app), never
each other's modules. Checked on the source, import by import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dealflow

ROOT = Path(dealflow.__file__).parent
CORE = {"errors", "domain", "process"}
# What each layer may import of dealflow, besides itself.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "settings": set(),
    "process": {"errors"},
    "domain": {"errors", "process"},
    "store": CORE,
    "analytics": {*CORE, "store"},
    "imports": {*CORE, "store"},
    "services": {*CORE, "store", "analytics", "imports", "settings"},
    "worker": {*CORE, "store", "services", "settings"},
    "server": {*CORE, "store", "services", "settings", "analytics", "api", "web"},
    "api": {*CORE, "store", "services", "settings", "analytics", "server"},
    "web": {*CORE, "store", "services", "settings", "analytics", "server"},
    "cli": {*CORE, "store", "services", "settings", "analytics", "imports", "worker", "server"},
}


def _layer(path: Path) -> str:
    first = path.relative_to(ROOT).parts[0]
    return first.removesuffix(".py")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("dealflow.")}
    return found


MODULES = sorted(p for p in ROOT.rglob("*.py") if _layer(p) not in ("__init__", "__main__"))


def test_every_layer_is_known() -> None:
    assert {_layer(p) for p in MODULES} <= set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_only_the_layers_below_its_own(path: Path) -> None:
    layer = _layer(path)
    wrong = sorted(_imports(path) - ALLOWED[layer] - {layer})
    assert not wrong, f"{path.relative_to(ROOT)} ({layer}) imports {', '.join(wrong)}"
