"""A sweep file (``tapeout sweep SWEEP.yaml``): a base target and the axes to vary, expanded into
points, each a complete target document plus a workload and a number format.

::

    base: int8-systolic              # a shipped target, or a target file (relative to this file)
    workload: {model: llama2-7b, prefill: 512, decode: 512, batch: 1}
    format: int8                     # default format of the linear layers (omit: the target's own)
    axes:                            # the product of every axis (default) ...
      compute.rows: [16, 32, 64]     # any target field by its dotted path
      buffers.weights.size: [64 KiB, 128 KiB]
      format: [int8, olive-w4a4]     # workload axes: format, model, prefill, decode, batch
    # points: [{compute.rows: 16, format: int8}, ...]   # ... or explicit points instead
    constraints: ["area_mm2 <= 2"]   # COLUMN OP NUMBER over the result columns
    accuracy: {model: smollm2-135m, tokens: 512}     # perplexity per format (false: none)

The file is validated before any work: an unknown key, an empty axis, a workload value out of
range, or a target value that does not parse (unknown path, wrong unit) is one message naming
the file, the key and the reason. Each value of a target axis is checked alone on the base; a
*combination* that breaks a design rule or does not fit memory is not an error of the file but
a row of the results with its reason (:mod:`tapeout.sweep.evaluate`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from core.errors import UserError
from spec.schema import Strict

WORKLOAD_AXES = ("model", "prefill", "decode", "batch", "format")
"""Axes that vary the workload or the number format, not the target."""
METRICS = ("latency_s", "tokens_per_s", "energy_j", "energy_per_token_j", "utilisation",
           "offchip_bytes", "area_mm2", "perplexity")
"""Result columns a constraint may test (:mod:`tapeout.sweep.evaluate`)."""
_CONSTRAINT = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>|==)\s*([-+0-9.eE]+)\s*$")


class Workload(Strict):
    model: str
    prefill: int = Field(default=128, ge=1, le=1 << 20)
    decode: int = Field(default=0, ge=0, le=1 << 20)
    batch: int = Field(default=1, ge=1, le=4096)


class Accuracy(Strict):
    model: str = "smollm2-135m"
    tokens: int = Field(default=512, ge=64, le=1 << 16)


class SweepFile(Strict):
    """One ``SWEEP.yaml`` (module docstring)."""

    base: str
    workload: Workload
    format: str | None = None
    axes: dict[str, list[Any]] = Field(default_factory=dict)
    points: list[dict[str, Any]] | None = None
    constraints: list[str] = Field(default_factory=list)
    accuracy: Accuracy | bool = True

    @model_validator(mode="after")
    def _axes_or_points(self) -> SweepFile:
        if self.points is not None and self.axes:
            raise ValueError("give either axes (their product) or points (explicit), not both")
        if self.points is not None and not self.points:
            raise ValueError("points: the list is empty")
        for key, values in self.axes.items():
            if not values:
                raise ValueError(f"axes.{key}: the axis has no values")
        for index, point in enumerate(self.points or []):
            if not point:
                raise ValueError(f"points.{index}: the point sets nothing")
        for index, text in enumerate(self.constraints):
            match = _CONSTRAINT.match(text)
            if not match:
                raise ValueError(f"constraints.{index}: {text!r} is not COLUMN OP NUMBER (e.g. 'area_mm2 <= 2')")
            if match[1] not in METRICS:
                raise ValueError(f"constraints.{index}: {match[1]!r} is not a result column ({', '.join(METRICS)})")
            try:
                float(match[3])
            except ValueError:
                raise ValueError(f"constraints.{index}: {match[3]!r} is not a number") from None
            if match[1] == "perplexity" and self.accuracy is False:
                raise ValueError(f"constraints.{index}: a perplexity constraint needs the accuracy run "
                                 "(accuracy: false)")
        return self


@dataclass(frozen=True)
class Constraint:
    column: str
    op: str
    limit: float

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` meets the constraint (a missing value does not)."""
        if value is None:
            return False
        return {"<=": value <= self.limit, ">=": value >= self.limit, "<": value < self.limit,
                ">": value > self.limit, "==": value == self.limit}[self.op]

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.limit:g}"


@dataclass(frozen=True)
class Point:
    """One design point: the values its axes set (``settings``, in file order), the complete
    target document, its workload and format."""

    settings: tuple[tuple[str, Any], ...]
    target: dict
    model: str
    prefill: int
    decode: int
    batch: int
    format: str | None

    @property
    def workload(self) -> tuple[str, int, int, int]:
        return self.model, self.prefill, self.decode, self.batch

    def key(self, version: str) -> str:
        """Content hash of everything the result depends on: the target, format, workload and
        the tapeout version."""
        doc = {"target": self.target, "format": self.format, "workload": list(self.workload),
               "version": version}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its points in order, the axis names (the table's first columns), its
    constraints and the accuracy run (``None``: no perplexity column)."""

    source: str
    base: str
    axes: tuple[str, ...]
    points: tuple[Point, ...]
    constraints: tuple[Constraint, ...]
    accuracy: Accuracy | None


def load_sweep(path: Path) -> Sweep:
    """Read and validate ``path`` (every problem is one :class:`UserError`)."""
    from spec.yamlfile import load_yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such sweep file")
    return parse_sweep(load_yaml(path), str(path), path.parent)


def parse_sweep(doc: object, source: str, root: Path = Path(".")) -> Sweep:
    """A parsed sweep document, validated and expanded (``root``: where a relative base is)."""
    from spec.yamlfile import validate

    f = validate(SweepFile, doc, source)
    base_doc, base_name = _base(f.base, root, source)
    settings = _settings(f)
    axes = tuple(dict.fromkeys(k for s in settings for k in s))
    _check_values(f, settings, base_doc, source)
    points = tuple(_point(f, s, base_doc, base_name) for s in settings)
    constraints = tuple(Constraint(m[1], m[2], float(m[3]))
                        for m in (_CONSTRAINT.match(c) for c in f.constraints))
    accuracy = f.accuracy if isinstance(f.accuracy, Accuracy) else (Accuracy() if f.accuracy else None)
    return Sweep(source, base_name, axes, points, constraints, accuracy)


def _base(base: str, root: Path, source: str) -> tuple[dict, str]:
    from spec import spec_path
    from spec.yamlfile import load_yaml

    candidate = root / base
    try:
        path, _ = spec_path(candidate if base.endswith((".yaml", ".yml")) else base)
    except UserError as exc:
        raise UserError(f"{source}: base: {exc}") from None
    if not path.is_file():
        raise UserError(f"{source}: base: {path}: no such target file")
    from sim.target import parse_target

    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise UserError(f"{source}: base: {path} is not a target document")
    try:
        parse_target(doc, str(path))
    except UserError as exc:
        raise UserError(f"{source}: base: {exc}") from None
    return doc, str(doc.get("name", path.stem))


def _settings(f: SweepFile) -> list[dict[str, Any]]:
    if f.points is not None:
        return [dict(p) for p in f.points]
    if not f.axes:
        return [{}]
    keys = list(f.axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*f.axes.values())]


def _check_values(f: SweepFile, settings: list[dict], base_doc: dict, source: str) -> None:
    """Every axis value alone must be valid: workload values in range, formats and models
    known, target values parsing on the base (unknown path, wrong unit)."""
    from models.zoo import get_spec
    from sim.formats import get_format
    from spec import parse_spec
    from spec.edit import edit_document
    from spec.yamlfile import SpecProblem

    where = "points" if f.points is not None else "axes"
    seen: set[tuple[str, str]] = set()
    for setting in settings:
        for key, value in setting.items():
            marker = (key, json.dumps(value, sort_keys=True, default=str))
            if marker in seen:
                continue
            seen.add(marker)
            label = f"{source}: {where}.{key}: {value!r}"
            if key in WORKLOAD_AXES:
                _check_workload_value(key, value, label, get_spec, get_format)
                continue
            try:
                parse_spec(edit_document(base_doc, {key: value}), "point")
            except SpecProblem as problem:
                raise UserError(f"{label}: {problem.reason}") from None
            except UserError as exc:
                raise UserError(f"{label}: {str(exc).removeprefix('point: ')}") from None
    for name in [f.format] if f.format else []:
        _check_workload_value("format", name, f"{source}: format", get_spec, get_format)
    _check_workload_value("model", f.workload.model, f"{source}: workload.model", get_spec, get_format)
    if isinstance(f.accuracy, Accuracy) or f.accuracy is True:
        from tapeout.accuracy import trained_spec

        model = f.accuracy.model if isinstance(f.accuracy, Accuracy) else Accuracy().model
        try:
            trained_spec(model)
        except UserError as exc:
            raise UserError(f"{source}: accuracy.model: {exc}") from None
    sets_area = "area" in base_doc or any(k.startswith("area.") for s in settings for k in s)
    for index, text in enumerate(f.constraints):
        if _CONSTRAINT.match(text)[1] == "area_mm2" and not sets_area:
            raise UserError(f"{source}: constraints.{index}: the base target has no area model "
                            f"(area.pe_unit), so no point has an area_mm2")


def _check_workload_value(key: str, value: Any, label: str, get_spec, get_format) -> None:
    """A format or model must be a known name (a format may be ``None``: the target's own);
    a length or batch a whole number within :class:`Workload`'s bounds."""
    if key in ("format", "model"):
        if value is None and key == "format":
            return
        if not isinstance(value, str):
            raise UserError(f"{label}: a {key} is a name")
        try:
            (get_format if key == "format" else get_spec)(value)
        except UserError as exc:
            raise UserError(f"{label}: {exc}") from None
        return
    bounds = Workload.model_fields[key].metadata
    low = next(m.ge for m in bounds if hasattr(m, "ge"))
    high = next(m.le for m in bounds if hasattr(m, "le"))
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserError(f"{label}: {key} is a whole number from {low} to {high}")


def _point(f: SweepFile, setting: dict, base_doc: dict, base_name: str) -> Point:
    from spec.edit import edit_document

    edits = {k: v for k, v in setting.items() if k not in WORKLOAD_AXES}
    target = edit_document(base_doc, edits)
    if edits:
        target["name"] = f"{base_name}-sweep"
    w = {**f.workload.model_dump(), **{k: v for k, v in setting.items() if k in WORKLOAD_AXES}}
    return Point(tuple(setting.items()), target, w["model"], w["prefill"], w["decode"], w["batch"],
                 setting.get("format", f.format))
