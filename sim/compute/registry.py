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
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import UserError
from hw.spec import Precision, TargetSpec


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

    def __init__(self, target: TargetSpec):
        self.target = target
        self.rows, self.cols = target.compute.rows, target.compute.cols
        self.acc_bits = target.compute.accumulator_bits

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
    """The compute model class registered as ``name``; ``where`` prefixes the error."""
    import sim.compute.roofline  # noqa: F401  (registers the built-in models)
    import sim.compute.systolic  # noqa: F401

    cls = _resolve(name)
    if cls is None:
        raise UserError(f"{where}: unknown compute model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return cls


def get_compute_model(target: TargetSpec) -> ComputeModel:
    """The compute model named by ``target.compute.model``, instantiated for ``target``."""
    return compute_model_class(target.compute.model, f"target {target.name}: compute.model")(target)

