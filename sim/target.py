"""The loader every command uses: a target file made ready to simulate and to size RTL from.

Order (each step's problem is one :class:`~core.errors.UserError` naming file, key and reason):

1. YAML → schema (:mod:`spec`: units, ranges, unknown keys; no simulator knowledge);
2. ``compute.model`` resolved in the compute-model registry (:mod:`sim.compute`);
3. that model's rules — its dataflow, its ``design:`` section, its design's constraints
   (e.g. the OliVe array's even sides and mode rates, :mod:`sim.olive.design`, the rules its RTL
   shares) — so a target that loads never fails half-way through a simulation;
4. ``energy`` resolved in :mod:`sim.energy` and covering every action the target counts.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from core.errors import UserError
from sim.compute.registry import compute_model_class
from sim.energy.table import load_table
from spec import parse_spec, spec_path
from spec.schema import TargetSpec
from spec.yamlfile import SpecProblem, load_yaml


def check_target(spec: TargetSpec, source: str) -> TargetSpec:
    """Steps 2–4 of the module docstring on a schema-valid ``spec``; returns it."""
    cls = compute_model_class(spec.compute.model, where=f"{source}: compute.model")
    try:
        cls.check_target(spec)
    except SpecProblem as problem:
        raise UserError(f"{source}: {problem.key}: {problem.reason}") from None
    table = load_table(spec.energy, where=f"{source}: energy")
    actions = cls.actions(spec) + [spec.vector.op_action, spec.memory.read_action,
                                   spec.memory.write_action]
    missing = [a for a in dict.fromkeys(actions) if a not in table.entries]
    if missing:
        raise UserError(f"{source}: energy: table {spec.energy!r} has no entry for {', '.join(missing)}")
    return spec


def parse_target(doc: object, source: str) -> TargetSpec:
    """A parsed YAML document as a checked target; ``source`` names it in errors."""
    return check_target(parse_spec(doc, source), source)


@cache
def _load(path: Path, name: str | None) -> TargetSpec:
    spec = parse_target(load_yaml(path), str(path))
    if name is not None and spec.name != name:
        raise UserError(f"{path}: name: {spec.name!r} differs from the file name {name!r}")
    return spec


def load_target(name_or_path: str | Path) -> TargetSpec:
    """A shipped target by name (``int8-systolic``) or the path of a user's YAML file, checked."""
    return _load(*spec_path(name_or_path))
