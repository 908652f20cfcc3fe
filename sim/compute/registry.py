"""The compute-model seam: a target's YAML names its model (``compute.model``); the engine asks
the model for the cycles and energy actions of every matrix tile and never knows the formula.

A design adds its own model without touching the engine::

    # sim/olive/compute.py
    from sim.compute import ComputeModel, TileCost, register_compute_model

    @register_compute_model("olive-systolic")
    class OliveSystolic(ComputeModel):
        def matmul(self, tile, precision, density, first_k): ...

Names are looked up in the registry; a name not registered yet is resolved by importing the
design package named by its first dash-separated word (``olive-systolic`` → ``sim.olive``),
whose ``__init__`` imports the module that registers it. ``module:Class`` also works, for a
user's own model outside the tree.

A model also owns the rules its targets must meet, checked when a target is loaded
(:func:`sim.target.check_target`), never in the middle of a simulation: the dataflow it
implements, the schema of the target's ``design:`` section (``design_schema``, a
:class:`spec.schema.Strict` model) and anything else in :meth:`ComputeModel.check_target`,
which raises :class:`spec.yamlfile.SpecProblem` (key, reason).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ValidationError

from core.errors import UserError
from spec.schema import Buffers, Precision, TargetSpec
from spec.yamlfile import SpecProblem, first_problem


@dataclass(frozen=True, slots=True)
class TileCost:
    """Cycles of one matrix tile on the matrix unit, and its energy actions (action → count:
    MACs, SRAM bits read/written per buffer, design-specific actions such as edge decodes)."""

    cycles: int
    actions: dict[str, float] = field(default_factory=dict)


class ComputeModel:
    """Base of the compute models. ``matmul`` is the formula; the rest has generic defaults.

    ``tile`` = (m, k, n) elements; ``precision`` the target precision it runs at; ``density``
    the kept fraction of weights (N:M sparsity); ``first_k`` false when partial sums are read back.
    """

    name = ""
    dataflow: ClassVar[str | None] = None
    """The ``compute.dataflow`` this model implements (``None``: any)."""
    design_schema: ClassVar[type[BaseModel] | None] = None
    """Schema of the target's ``design:`` section (``None``: the model takes no design parameters)."""

    def __init__(self, target: TargetSpec):
        self.target = target
        self.rows, self.cols = target.compute.rows, target.compute.cols
        self.acc_bits = target.compute.accumulator_bits
        self.design = self.parse_design(target)

    @classmethod
    def parse_design(cls, target: TargetSpec) -> BaseModel | None:
        """The target's ``design:`` section as :attr:`design_schema` (``SpecProblem`` if it
        does not fit)."""
        if cls.design_schema is None:
            if target.design:
                raise SpecProblem("design", f"compute model {cls.name!r} takes no design parameters")
            return None
        try:
            return cls.design_schema.model_validate(target.design)
        except ValidationError as exc:
            raise first_problem(exc, "design") from None

    @classmethod
    def check_target(cls, target: TargetSpec) -> None:
        """Raise :class:`SpecProblem` unless ``target`` is one this model can simulate: its
        dataflow, its ``design:`` section, then :meth:`check_design`."""
        if cls.dataflow is not None and target.compute.dataflow != cls.dataflow:
            raise SpecProblem("compute.dataflow", f"compute model {cls.name!r} is {cls.dataflow}, "
                                                  f"got {target.compute.dataflow!r}")
        cls.check_design(target, cls.parse_design(target))

    design_rules: ClassVar[Callable[[TargetSpec, BaseModel], None] | None] = None
    """The design's own rules on a target and its parsed ``design:`` section, raising
    :class:`SpecProblem` (a design package's ``design.check``; ``None``: no rules)."""

    @classmethod
    def check_design(cls, target: TargetSpec, design: BaseModel | None) -> None:
        """Apply :attr:`design_rules` to ``target`` and its parsed ``design:`` section."""
        if cls.design_rules is not None:
            cls.design_rules(target, design)

    @classmethod
    def actions(cls, target: TargetSpec) -> list[str]:
        """Every energy action this model counts on ``target`` (the energy table must price
        each): the MAC action of every precision and the SRAM reads and writes of every buffer."""
        macs = [p.mac_action for p in target.compute.precisions.values()]
        return macs + [f"sram.{b}.{rw}" for b in Buffers.model_fields for rw in ("read", "write")]

    def matmul(self, tile: tuple[int, int, int], precision: Precision, density: float,
               first_k: bool) -> TileCost:
        raise NotImplementedError

    def matvec(self, tile: tuple[int, int, int], precision: Precision, density: float,
               first_k: bool) -> TileCost:
        """Matrix-vector (decode) tiles; by default the same formula with M = 1."""
        return self.matmul(tile, precision, density, first_k)

    def vector_cycles(self, elements: int, ops_per_element: float) -> int:
        """Cycles of the vector/SFU unit for ``elements`` × ``ops_per_element`` operations."""
        return math.ceil(elements * ops_per_element / self.target.vector.lanes)

    def sram_actions(self, tile: tuple[int, int, int], precision: Precision, first_k: bool,
                     a_reads: float, w_reads: float) -> dict[str, float]:
        """SRAM bits read/written for one tile, given how many times each A and B element is
        read (dataflow-specific). Partial sums: written once, read back unless ``first_k``."""
        m, k, n = tile
        out = m * n * self.acc_bits
        return {"sram.inputs.read": m * k * precision.act_bits * a_reads,
                "sram.weights.read": k * n * precision.weight_bits * w_reads,
                "sram.outputs.write": out,
                "sram.outputs.read": 0 if first_k else out}


_MODELS: dict[str, type[ComputeModel]] = {}


def register_compute_model(name: str) -> Callable[[type[ComputeModel]], type[ComputeModel]]:
    """Class decorator: make ``cls`` available as ``compute.model: name`` in target files."""

    def add(cls: type[ComputeModel]) -> type[ComputeModel]:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"compute model {name!r} is already registered by {_MODELS[name]}")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return add


def _resolve(name: str) -> type[ComputeModel] | None:
    if name in _MODELS:
        return _MODELS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError, TypeError):  # ":x", "..:x": not a module
            return None
        return cls if isinstance(cls, type) and issubclass(cls, ComputeModel) else None
    package = f"sim.{name.split('-')[0].replace('.', '_')}"
    try:
        importlib.import_module(package)
    except ImportError:
        return None
    return _MODELS.get(name)


def compute_model_class(name: str, where: str = "compute.model") -> type[ComputeModel]:
    """The compute model class registered as ``name``; ``where`` prefixes the error. (The
    built-in models register when :mod:`sim.compute` is imported, before this module.)"""
    cls = _resolve(name)
    if cls is None:
        raise UserError(f"{where}: unknown compute model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return cls


def get_compute_model(target: TargetSpec) -> ComputeModel:
    """The compute model named by ``target.compute.model``, instantiated for ``target``."""
    return compute_model_class(target.compute.model, f"target {target.name}: compute.model")(target)

