"""The floating-point RTL units (:mod:`hw.registry`): ``fp-add``, ``fp-mul``, ``fp-from-int``,
``fp-widen``, each with its format parameters, vectors (:mod:`hw.fp.vectors`), golden function
(:mod:`hw.fp.format`) and combinational bench (:mod:`hw.fp.benches`). Outputs are compared as
exact bit patterns (every NaN is the canonical one on both sides)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.fp import format as golden
from hw.fp import vectors
from hw.fp.adder import FloatAdder
from hw.fp.convert import FloatWiden, IntToFloat, widen_problem
from hw.fp.format import FORMATS, MAX_EXACT_INT_BITS, FloatFormat
from hw.fp.multiplier import FloatMultiplier
from hw.registry import Bench, RtlUnit, UnitParams


def format_problem(name: str, what: str = "format") -> str | None:
    """Why ``name`` is not a supported format (``None`` if it is)."""
    if name in FORMATS:
        return None
    return f"{what} must be one of {', '.join(FORMATS)}, got {name!r}"


@dataclass(frozen=True)
class FloatParams(UnitParams):
    """A unit of one format: ``format`` ``fp32`` (E8M23) or ``fp16`` (E5M10)."""

    format: str = "fp32"

    def problem(self) -> str | None:
        return format_problem(self.format)

    @property
    def fmt(self) -> FloatFormat:
        return FORMATS[self.format]


@dataclass(frozen=True)
class IntToFloatParams(FloatParams):
    """Signed ``int_bits``-bit integers (2 … 53: the golden model converts through float64)
    into ``format``."""

    int_bits: int = 32

    def problem(self) -> str | None:
        if problem := super().problem():
            return problem
        if not 2 <= self.int_bits <= MAX_EXACT_INT_BITS:
            return (f"int_bits must be 2 to {MAX_EXACT_INT_BITS} (the golden model converts "
                    f"through float64, exact up to 2^53), got {self.int_bits}")
        return None


@dataclass(frozen=True)
class WidenParams(UnitParams):
    """Exact widening from ``src`` to ``dst`` (``dst`` must hold every ``src`` value as a
    normal number: fp16 → fp32)."""

    src: str = "fp16"
    dst: str = "fp32"

    def problem(self) -> str | None:
        problem = format_problem(self.src, "src") or format_problem(self.dst, "dst")
        if problem:
            return problem
        if problem := widen_problem(FORMATS[self.src], FORMATS[self.dst]):
            return f"cannot widen {self.src} to {self.dst}: {problem}"
        return None


def _binary_unit(name: str, summary: str, component, op, make_vectors, port: str, module: str):
    return RtlUnit(
        name, summary, FloatParams,
        build=lambda p: component(p.fmt), top=lambda p: f"{name.replace('-', '_')}_{p.format}",
        vectors=lambda p, n, seed: make_vectors(p.fmt, n, seed),
        golden=lambda p, v: op(p.fmt, v["a"], v["b"]).astype(np.int64),
        bench=Bench(module, lambda p, v: {"a": v["a"], "b": v["b"]}, lambda p, out: out[port]),
        default_vectors=100_000, vector_noun="pair")


UNITS = (
    _binary_unit("fp-add", "IEEE 754 adder, round to nearest even, combinational", FloatAdder,
                 golden.add, vectors.add_vectors, "sum", "hw.fp.benches.adder"),
    _binary_unit("fp-mul", "IEEE 754 multiplier, round to nearest even, combinational",
                 FloatMultiplier, golden.mul, vectors.mul_vectors, "product",
                 "hw.fp.benches.multiplier"),
    RtlUnit("fp-from-int", "signed integer → IEEE 754 float, round to nearest even, "
            "combinational", IntToFloatParams,
            build=lambda p: IntToFloat(p.int_bits, p.fmt),
            top=lambda p: f"fp_from_int{p.int_bits}_{p.format}",
            vectors=lambda p, n, seed: vectors.from_int_vectors(p.fmt, p.int_bits, n, seed),
            golden=lambda p, v: golden.from_int(p.fmt, p.int_bits, v["value"]).astype(np.int64),
            bench=Bench("hw.fp.benches.int_to_float",
                        lambda p, v: {"value": v["value"] & ((1 << p.int_bits) - 1)},
                        lambda p, out: out["result"]),
            default_vectors=1 << 16, vector_noun="value"),
    RtlUnit("fp-widen", "exact IEEE 754 format widening (fp16 → fp32), combinational",
            WidenParams,
            build=lambda p: FloatWiden(FORMATS[p.src], FORMATS[p.dst]),
            top=lambda p: f"fp_widen_{p.src}_{p.dst}",
            vectors=lambda p, n, seed: vectors.widen_vectors(FORMATS[p.src], n, seed),
            golden=lambda p, v: golden.widen(FORMATS[p.src], FORMATS[p.dst], v["a"]).astype(np.int64),
            bench=Bench("hw.fp.benches.widen", lambda p, v: {"a": v["a"]},
                        lambda p, out: out["result"]),
            default_vectors=1 << 16, vector_noun="value"),
)
