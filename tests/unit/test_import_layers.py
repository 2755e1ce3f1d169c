"""Package layering, read from the source (no imports run): `serving` never imports the
agent (the agent wires serving in), the store never imports its shipper, `common` imports
no inferwatch package, and no module imports another package's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "common", "collectors", "alerts", "dashboards", "serving")


def imports(package: str) -> list[tuple[str, str, str]]:
    """(module file, imported module, imported name) for every absolute import."""
    found = []
    for path in (ROOT / package).rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found += [(rel, node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found += [(rel, a.name, "") for a in node.names]
    return found


def ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("serving", ("agent", "alerts", "dashboards", "collectors")),
        ("agent/store", ("agent.shipping",)),
        ("common", PACKAGES),
    ],
)
def test_a_lower_layer_never_imports_a_higher_one(package, forbidden):
    bad = [
        (f, m)
        for f, m, _ in imports(package)
        if any(m == x or m.startswith(x + ".") for x in forbidden)
    ]
    assert bad == []


def test_no_module_imports_another_packages_private_names():
    bad = []
    for package in PACKAGES:
        for f, module, name in imports(package):
            private = name.startswith("_") and not name.startswith("__")
            if private and ours(module) and module.split(".")[0] != f.split("/")[0]:
                bad.append((f, module, name))
    assert bad == []
