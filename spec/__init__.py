"""Target specifications: the schema the target files (``hw/targets/*.yaml`` and users' own)
are validated into.

This package is the layer right above :mod:`core`: it imports no simulator, mapper or RTL code.
It parses a YAML file into a :class:`~spec.schema.TargetSpec` whose every quantity has its
unit and range checked; what the names in it mean (the compute model, the energy table) and the
rules of the design that owns the compute model are checked after parsing by
:func:`sim.target.load_target` — the loader every command uses.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.errors import UserError
from spec.schema import TargetSpec
from spec.yamlfile import validate

TARGETS_DIR = Path(importlib.util.find_spec("hw").submodule_search_locations[0]) / "targets"
"""Where the shipped target files live: ``hw/targets/`` (package data of ``hw``, located
without importing it)."""


def target_names() -> list[str]:
    """Names of the shipped targets."""
    return sorted(p.stem for p in TARGETS_DIR.glob("*.yaml"))


def spec_path(name_or_path: str | Path) -> tuple[Path, str | None]:
    """The file of a shipped target (``int8-systolic``) or of a user's YAML, and the name the
    file must declare (shipped targets only; ``None`` for a user's file)."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith((".yaml", ".yml")) or path.exists():
        return path.resolve(), None
    shipped = TARGETS_DIR / f"{text}.yaml"
    if not shipped.exists():
        raise UserError(f"unknown target {text!r}; known targets: {', '.join(target_names())} "
                        f"(or give the path of a YAML file)")
    return shipped, text


def parse_spec(doc: object, source: str) -> TargetSpec:
    """Validate a parsed YAML document against the schema; ``source`` names the file in errors."""
    if not isinstance(doc, dict):
        raise UserError(f"{source}: a target file must be a mapping of keys, got {type(doc).__name__}")
    return validate(TargetSpec, doc, source)

