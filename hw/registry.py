"""The registry of RTL units: what ``tapeout units | verilog | verify | synth`` dispatch over.

A design registers its units in ``hw/<design>/units.py`` as a tuple ``UNITS`` of
:class:`RtlUnit`; :func:`units` finds every design package under ``hw/`` (there is no central
list of designs). A unit names:

- its Amaranth constructor (``build``) and the Verilog top module it becomes (``top``);
- its parameter type (``params``, a :class:`UnitParams` dataclass: defaults, sized from a target
  by ``from_target``, overridden by ``--param``; fields marked :data:`BENCH` shape the bench,
  not the RTL);
- its bench: the cocotb module, and how host vectors become its inputs and its outputs are read;
- its vector generator and its golden function (the expected outputs, from :mod:`sim.formats`);
- its cycle formula, the very function its compute model uses, when its bench measures cycles;
- its published areas for ``synth``, the parts whose share of its area ``synth`` reports, and
  the peers (other units) ``synth`` compares its area with, beside their published figures;
- for an FPGA design, the device fit ``synth --fpga`` reports (instances per device, MACs).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from amaranth.lib import wiring

import hw
from core.errors import UserError
from hw.verilog import GeneratedVerilog, generate
from spec.schema import TargetSpec

MAX_SIDE = 128
"""Largest array side (PEs per row or column) an RTL unit is generated for: elaboration and
Verilog grow with rows × cols; 128 × 128 is 4× the largest published OliVe/ANT array."""
MAX_SIGNAL_BITS = 1 << 16
"""Widest signal the generator can build: Amaranth 0.5's netlist numbers a cell's output bits
with 16 bits (``amaranth.hdl._nir.Net``), so a wider port fails deep inside elaboration."""
BENCH = {"bench": True}
"""Field metadata of a parameter that shapes the bench (a mode to exercise, a tile length), not
the RTL: it is left out of the Verilog top name and of the Verilog's parameter JSON."""

Vectors = dict[str, np.ndarray]
"""Host-side test vectors of one bench run; the first axis of every array counts vectors."""


@dataclass(frozen=True)
class UnitParams:
    """Base of a unit's parameters: dataclass fields with defaults."""

    @classmethod
    def from_target(cls, target: TargetSpec) -> dict[str, Any] | None:
        """Field values sized from a target (``tapeout … --target T``); ``None``: the unit
        takes nothing from a target."""
        return None

    def problem(self) -> str | None:
        """Why these parameters cannot be built or benched, or ``None``."""
        return None

    def shown(self, *, bench: bool = True) -> dict[str, Any]:
        """The parameters as a JSON-ready mapping (``bench=False``: the RTL's only)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if bench or not f.metadata.get("bench")}


def array_size_problem(rows: int, cols: int, port: str, port_bits: int) -> str | None:
    """Why an array of ``rows × cols`` whose widest port ``port`` has ``port_bits`` bits is
    larger than the generator builds (:data:`MAX_SIDE`, :data:`MAX_SIGNAL_BITS`), or ``None``."""
    if max(rows, cols) > MAX_SIDE:
        return (f"a {rows} × {cols} array is larger than the RTL generator builds (at most "
                f"{MAX_SIDE} per side)")
    if port_bits > MAX_SIGNAL_BITS:
        return (f"a {rows} × {cols} array's {port} port would be {port_bits:,} bits; the RTL "
                f"generator builds signals of at most {MAX_SIGNAL_BITS:,} bits")
    return None


@dataclass(frozen=True)
class PublishedArea:
    """A unit's area as its paper publishes it."""

    um2: float
    node: str
    tool: str
    source: str


@dataclass(frozen=True)
class AreaPart:
    """``count`` instances of unit ``unit`` (with ``params``) inside another unit, whose share of
    its area ``synth`` reports beside ``published_percent`` (``source``)."""

    label: str
    unit: str
    params: UnitParams
    count: int
    published_percent: float | None = None
    source: str = ""


@dataclass(frozen=True)
class AreaPeer:
    """Unit ``unit`` (with ``params``) synthesised beside another for an area comparison, shown
    as ``label`` beside ``published``, its published :attr:`AreaPeers.published_metric`
    (``source``), where there is one."""

    label: str
    unit: str
    params: UnitParams
    published: float | None = None
    source: str = ""


@dataclass(frozen=True)
class AreaPeers:
    """The units ``synth`` compares a unit with: each peer's area relative to the peer labelled
    ``normaliser`` (its area = 1) and the inverse, area efficiency, beside the peers' published
    ``published_metric`` (normalised to the same peer)."""

    peers: tuple[AreaPeer, ...]
    normaliser: str
    published_metric: str

    def __post_init__(self):
        labels = [peer.label for peer in self.peers]
        if len(set(labels)) != len(labels) or self.normaliser not in labels:
            raise ValueError(f"peers need distinct labels including the normaliser "
                             f"{self.normaliser!r}, got {labels}")


@dataclass(frozen=True)
class Bench:
    """A unit's cocotb bench: the test module run on Verilator, how the host's vectors become
    its input arrays (``drive``) and how its output arrays are read back into the golden
    function's layout (``read``; cycles, when measured, come back as output ``cycles``)."""

    module: str
    drive: Callable[[Any, Vectors], dict[str, np.ndarray]]
    read: Callable[[Any, dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class FitReference:
    """A published or target figure a fit table shows beside the instances that fit."""

    label: str
    value: float
    source: str


@dataclass(frozen=True)
class FpgaFit:
    """What ``synth --fpga`` reports a unit against: the device (:mod:`hw.fpga`'s devices),
    the DSP slices one instance must map to (a unit that falls back to LUT multipliers shows
    a mismatch), its MACs per cycle by mode, the reference figures and a note."""

    device: str
    dsps: int
    macs_per_cycle: dict[str, float]
    reference: tuple[FitReference, ...] = ()
    note: str = ""


def _no_area(params: UnitParams) -> PublishedArea | None:
    return None


def _no_parts(params: UnitParams) -> tuple[AreaPart, ...]:
    return ()


def _no_peers(params: UnitParams) -> AreaPeers | None:
    return None


@dataclass(frozen=True)
class RtlUnit:
    """One generatable, verifiable unit (see the module docstring)."""

    name: str
    summary: str
    params: type[UnitParams]
    build: Callable[[Any], wiring.Component]
    top: Callable[[Any], str]
    vectors: Callable[[Any, int, int], Vectors]
    """(params, count, seed) → at least ``count`` vectors, deterministic for a seed."""
    golden: Callable[[Any, Vectors], np.ndarray]
    """(params, vectors) → the expected outputs, ``[vectors, …]``."""
    bench: Bench
    default_vectors: int
    vector_noun: str
    """What one vector is (``pair``, ``cycle``, ``tile``)."""
    cycles: Callable[[Any], int] | None = None
    """(params) → cycles of one vector, when the bench measures them."""
    published_area: Callable[[Any], PublishedArea | None] = field(default=_no_area)
    parts: Callable[[Any], tuple[AreaPart, ...]] = field(default=_no_parts)
    peers: Callable[[Any], AreaPeers | None] = field(default=_no_peers)
    fpga_fit: Callable[[Any], FpgaFit] | None = None
    """(params) → the device fit ``synth --fpga`` reports, for units meant for an FPGA."""


@cache
def units() -> dict[str, RtlUnit]:
    """Every registered unit by name, from ``hw/<design>/units.py`` of every design package."""
    found: dict[str, RtlUnit] = {}
    for info in sorted(pkgutil.iter_modules(hw.__path__), key=lambda i: i.name):
        if not info.ispkg or importlib.util.find_spec(f"hw.{info.name}.units") is None:
            continue
        for unit in importlib.import_module(f"hw.{info.name}.units").UNITS:
            if unit.name in found:
                raise ValueError(f"RTL unit {unit.name!r} is registered twice")
            found[unit.name] = unit
    return found


def get_unit(name: str) -> RtlUnit:
    """The unit ``name``; an unknown name is a :class:`UserError` listing the known ones."""
    known = units()
    if name not in known:
        raise UserError(f"unknown unit {name!r}; known units: {', '.join(known)}")
    return known[name]


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _parse(f: dataclasses.Field, text: str) -> Any:
    """``text`` as the type of the parameter's default."""
    name = f.name
    kind = type(f.default if f.default is not dataclasses.MISSING else f.default_factory())
    try:
        if kind is bool:
            if text.lower() not in ("0", "1", "true", "false"):
                raise ValueError(text)
            return text.lower() in ("1", "true")
        return kind(text)
    except ValueError:
        raise UserError(f"parameter {name} takes {_KINDS.get(kind, kind.__name__)}, got {text!r}") from None


def resolve_params(unit: RtlUnit, target: str | None = None,
                   options: dict[str, str] | None = None) -> UnitParams:
    """``unit``'s parameters: defaults, then what ``target`` (a name or YAML, fully checked by
    :func:`sim.target.load_target`) sizes, then ``options`` (``name → text``); every problem is
    one :class:`UserError`."""
    fields = {f.name: f for f in dataclasses.fields(unit.params)}
    values: dict[str, Any] = {}
    if target is not None:
        from sim.target import load_target

        sized = unit.params.from_target(load_target(target))
        if sized is None:
            raise UserError(f"unit {unit.name} takes nothing from a target; drop --target")
        values.update(sized)
    for key, text in (options or {}).items():
        if key not in fields:
            have = ", ".join(fields) or "none"
            raise UserError(f"unit {unit.name} has no parameter {key!r} (its parameters: {have})")
        values[key] = _parse(fields[key], text)
    params = unit.params(**values)
    problem = params.problem()
    if problem:
        shown = ", ".join(f"{k} {v}" for k, v in params.shown().items())
        source = f" from target {target} and options" if target else ""
        raise UserError(f"{unit.name} ({shown}{source}): {problem}")
    return params


def elaborate(unit: RtlUnit, params: UnitParams) -> GeneratedVerilog:
    """The unit's Verilog, with its RTL parameters in the description."""
    return generate(unit.build(params), unit.top(params),
                    {"unit": unit.name, **params.shown(bench=False)})
