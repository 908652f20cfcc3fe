"""The schema of a target specification (``hw/targets/*.yaml``, or a user's file): typed, frozen objects.

One :class:`TargetSpec` is the single source of truth for an accelerator instance: clock,
compute array and its precisions, vector/SFU unit, on-chip buffers, off-chip memory, energy
table, static power, price, and the ``design:`` parameters of its compute model. The cycle model
(:mod:`sim`), the mapper (:mod:`mapping`) and the RTL generators (:mod:`hw`) read the same object.
The schema knows names only: which compute model and energy table a name means, and the rules
of a design, are checked after parsing by :mod:`sim.target`.

Quantities carry their unit in the file (``500 MHz``, ``128 KiB``, ``460 GB/s``, ``485 mW``);
the objects hold base units (Hz, bytes, bytes per cycle, W). Any problem — unknown key, missing
field, duplicate key, wrong unit, a number out of its range — is a :class:`~core.errors.UserError`
naming the file, the key and the reason (:mod:`spec.yamlfile`).

Every number is finite and within a physical range a few orders of magnitude beyond real chips
(so the simulator's arithmetic cannot overflow): clock 1 kHz … 100 GHz; array 1 … 4096 rows
and columns (published systolic arrays are ≤ 256 a side, GPUs list SMs × tensor cores);
``macs_per_cycle`` 0.001 … 10⁹; buffers and capacity 1 B … 1024 TiB; bandwidth 1 KB/s … 10⁶ TB/s
or 1 bit/cycle … 10⁶ B/cycle; ``ops_per_element`` 0 … 1000; static power 0 … 1000 kW;
efficiency and achieved fraction in (0, 1].
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from spec import units


def _number(low: float, high: float, *, open_low: bool = False) -> AfterValidator:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    def check(value: float) -> float:
        if not (math.isfinite(value) and (low < value if open_low else low <= value) and value <= high):
            raise ValueError(f"must be a finite number in {'(' if open_low else '['}{low:g}, {high:g}], "
                             f"got {value!r}")
        return value

    return AfterValidator(check)


_PER_SECOND = units.bounded(lambda text: units.bandwidth(text)[0], "1 KB/s", "1e6 TB/s")
_PER_CYCLE = units.bounded(lambda text: units.bandwidth(text)[0], "1 bit/cycle", "1e6 B/cycle")


def _bandwidth(text: object) -> tuple[float, bool]:
    per_cycle = units.bandwidth(text)[1]
    return (_PER_CYCLE if per_cycle else _PER_SECOND)(text), per_cycle


Hz = Annotated[float, BeforeValidator(units.bounded(units.frequency_hz, "1 kHz", "100 GHz"))]
Bytes = Annotated[float, BeforeValidator(units.bounded(units.size_bytes, "1 B", "1024 TiB"))]
Watts = Annotated[float, BeforeValidator(units.bounded(units.power_watts, "0 W", "1000 kW"))]
Fraction = Annotated[float, _number(0, 1, open_low=True)]
ArraySide = Annotated[int, Field(ge=1, le=4096)]
VECTOR_KINDS = ("softmax", "norm", "activation", "eltwise", "rope", "embedding")


class Strict(BaseModel):
    """Base of every schema object: unknown keys are refused, objects are frozen. A design's
    own ``design:`` schema (e.g. :class:`sim.olive.design.OliveDesign`) derives from it too."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Precision(Strict):
    """One operand precision the compute array supports.

    ``macs_per_cycle``: MACs the whole array completes per cycle at this precision (dense);
    ``mac_action``: the energy-table action charged per MAC.
    """

    weight_bits: int = Field(gt=0, le=64)
    act_bits: int = Field(gt=0, le=64)
    macs_per_cycle: Annotated[float, _number(1e-3, 1e9)]
    mac_action: str


class Sparsity(Strict):
    """Structured N:M weight sparsity the array skips (``n`` kept of every ``m``)."""

    pattern: Literal["none", "n:m"] = "none"
    m: int = Field(default=1, ge=1, le=1024)
    n: list[int] = Field(default_factory=lambda: [1], min_length=1)

    @model_validator(mode="after")
    def _n_within_m(self) -> Sparsity:
        bad = [n for n in self.n if not 1 <= n <= self.m]
        if bad:
            raise ValueError(f"n {bad} out of range: every n must be from 1 to m = {self.m}")
        return self


class Compute(Strict):
    """The matrix unit. ``model`` names the compute model (``sim.compute`` registry) that owns
    this target's tile-cycle formula; ``rows × cols`` is the PE array (for a GPU: the SM count ×
    tensor cores per SM, informative only)."""

    model: str
    rows: ArraySide
    cols: ArraySide
    dataflow: Literal["output-stationary", "weight-stationary", "roofline", "dot-product"]
    precisions: dict[str, Precision] = Field(min_length=1)
    accumulator_bits: int = Field(default=32, ge=1, le=128)
    achieved_fraction: Fraction = 1.0
    achieved_fraction_source: str | None = None
    sparsity: Sparsity = Sparsity()
    fusion: list[Literal["softmax", "activation", "eltwise", "rope"]] = Field(default_factory=list)


class Vector(Strict):
    """The vector/SFU unit: ``lanes`` element-operations per cycle; ``ops_per_element`` per op
    kind (softmax ≈ max, subtract, exp, sum, divide = 5); elements are ``element_bits`` wide."""

    lanes: int = Field(ge=1, le=1_000_000)
    element_bits: int = Field(default=16, ge=1, le=64)
    ops_per_element: dict[Literal["softmax", "norm", "activation", "eltwise", "rope", "embedding"],
                          Annotated[float, _number(0, 1000)]]
    op_action: str = "sfu.op"

    @field_validator("ops_per_element")
    @classmethod
    def _all_kinds(cls, value: dict) -> dict:
        missing = [k for k in VECTOR_KINDS if k not in value]
        if missing:
            raise ValueError(f"missing op kinds {missing}")
        return value


class Buffer(Strict):
    """An on-chip SRAM buffer. ``size`` in bytes; with ``double_buffered`` a tile may use half."""

    size: Bytes
    banks: int = Field(default=1, ge=1, le=1_000_000)
    word_bits: int = Field(default=64, ge=1, le=65536)
    double_buffered: bool = True

    @property
    def tile_bytes(self) -> int:
        """Bytes one tile may occupy (half the buffer when double buffered)."""
        return int(self.size // 2 if self.double_buffered else self.size)


class Buffers(Strict):
    weights: Buffer
    inputs: Buffer
    outputs: Buffer


class Memory(Strict):
    """Off-chip memory. ``bandwidth`` is the peak (bytes/s or bytes/cycle in the file);
    ``efficiency`` the achieved fraction of it; ``capacity`` bounds weights + KV cache."""

    kind: str
    bandwidth: Annotated[tuple[float, bool], BeforeValidator(_bandwidth)]
    channels: int = Field(default=1, ge=1, le=1024)
    efficiency: Fraction = 1.0
    efficiency_source: str | None = None
    capacity: Bytes
    capacity_source: str | None = None
    read_action: str = "dram.read"
    write_action: str = "dram.write"


class StaticPower(Strict):
    name: str
    power: Watts
    source: str


class Price(Strict):
    usd: Annotated[float, _number(0, 1e12, open_low=True)]
    source: str


class AreaModel(Strict):
    """What one PE of the ``compute.rows × compute.cols`` array is in RTL, for area estimates
    (``tapeout sweep``): a unit of ``tapeout units`` and its parameters (``tapeout synth``)."""

    pe_unit: str
    params: dict[str, str | int | bool] = Field(default_factory=dict)
    source: str


class TargetSpec(Strict):
    """A target accelerator (see the module docstring for units)."""

    name: str
    description: str
    kind: Literal["accelerator", "gpu", "fpga"]
    sources: list[str] = Field(min_length=1)
    clock: Hz
    compute: Compute
    vector: Vector
    buffers: Buffers
    memory: Memory
    energy: str
    static_power: list[StaticPower] = Field(default_factory=list)
    price: Price | None = None
    area: AreaModel | None = None
    default_precision: str
    attention_precision: str
    design: dict[str, Any] = Field(default_factory=dict)
    """Parameters of the design that owns ``compute.model``, validated by that compute model's
    own schema when the target is loaded (:func:`sim.target.check_target`)."""
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _precisions_exist(self) -> TargetSpec:
        for key in ("default_precision", "attention_precision"):
            if getattr(self, key) not in self.compute.precisions:
                raise ValueError(f"{key} {getattr(self, key)!r} is not one of compute.precisions "
                                 f"({', '.join(self.compute.precisions)})")
        return self

    @property
    def bytes_per_cycle(self) -> float:
        """Achieved off-chip bandwidth in bytes per cycle (peak × efficiency)."""
        value, per_cycle = self.memory.bandwidth
        peak = value if per_cycle else value / self.clock
        return peak * self.memory.efficiency

    @property
    def peak_bandwidth(self) -> float:
        """Peak off-chip bandwidth in bytes per second."""
        value, per_cycle = self.memory.bandwidth
        return value * self.clock if per_cycle else value

    @property
    def static_watts(self) -> float:
        return math.fsum(p.power for p in self.static_power)
