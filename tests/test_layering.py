"""The layering rule of the README's Layout section: imports only point down, so no package
imports another that imports it back (every import, top-level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "spec", "models", "mapping", "sim", "hw", "tapeout")
"""Bottom first: a package may import the packages before it and itself."""


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (absolute imports)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def upward_imports(root: Path = ROOT) -> list[str]:
    """``"<file> imports <package>"`` for every import of a higher layer under ``root``."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    found = []
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            for name in sorted(imported_packages(path) & set(LAYERS)):
                if rank[name] > rank[package]:
                    found.append(f"{path.relative_to(root)} imports {name}")
    return found


def test_imports_only_point_down():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The rule catches the cycle this layout removed (the target spec importing sim, inside a
    function) and lets a downward import pass."""
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "bad.py").write_text("import core.errors\n\ndef f():\n"
                                               "    from sim.compute.registry import x\n")
    assert upward_imports(tmp_path) == [f"{Path('spec', 'bad.py')} imports sim"]


@pytest.mark.parametrize("package", LAYERS)
def test_every_layer_is_a_package(package):
    assert (ROOT / package / "__init__.py").is_file()
