"""Which precision each op runs at on a target, and how many bits its operands occupy.

Bits per element come from the number-format objects (``sim.formats``), never duplicated here:
a format that declares ``weight_bits``/``activation_bits`` or ``bits`` is read directly; one
that only implements ``encode`` is measured by encoding a fixed, seeded sample and reading
``Encoded.bits_per_element()`` (codes + scales + metadata). The compute precision is the
target's narrowest precision whose operand widths hold the format's code widths
(``⌊bits per element⌋``). Linear layers use ``--format`` (or the target's default precision);
the LM head and attention products stay at the target's default / attention precision, as the
formats leave them unquantized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from core.errors import UserError
from mapping.mapper import OperandBits
from spec.schema import TargetSpec


@dataclass(frozen=True, slots=True)
class FormatBits:
    """Storage bits per element (may be fractional) of a format's weights and activations, and
    the kept fraction of weights (N:M sparsity: a format declares ``weight_density``)."""

    name: str
    weight_bits: float
    act_bits: float
    density: float = 1.0


def _measure(fmt, role: str, shape: tuple[int, int]) -> float:
    from sim.formats.base import Role

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return float(fmt.encode(x, Role(role), name=f"{fmt.name}-{role}-sample").bits_per_element())


@cache
def format_bits(name: str) -> FormatBits:
    """Storage bits of the registered format ``name`` (see the module docstring)."""
    from sim.formats.registry import get_format

    fmt = get_format(name)
    w = getattr(fmt, "weight_bits", None)
    a = getattr(fmt, "activation_bits", None)
    if w is None or a is None:
        if hasattr(fmt, "encode"):
            w = w if w is not None else _measure(fmt, "weight", (64, 512))
            a = a if a is not None else _measure(fmt, "activation", (16, 512))
        elif hasattr(fmt, "bits"):
            w = a = fmt.bits
        else:
            raise UserError(f"format {name!r} declares no bits per element")
    return FormatBits(name, float(w), float(a), float(getattr(fmt, "weight_density", 1.0)))


def choose_precision(target: TargetSpec, weight_bits: float, act_bits: float, what: str) -> str:
    """The narrowest target precision holding ``⌊bits⌋`` weights and activations."""
    need_w, need_a = math.floor(weight_bits + 1e-9), math.floor(act_bits + 1e-9)
    fits = [(p.weight_bits + p.act_bits, -p.macs_per_cycle, name)
            for name, p in target.compute.precisions.items()
            if p.weight_bits >= need_w and p.act_bits >= need_a]
    if not fits:
        have = ", ".join(f"{n} (W{p.weight_bits}A{p.act_bits})" for n, p in target.compute.precisions.items())
        raise UserError(f"target {target.name} cannot run {what}: it needs {need_w}-bit weights and "
                        f"{need_a}-bit activations; the array supports {have}")
    return min(fits)[2]


@dataclass(frozen=True, slots=True)
class Numerics:
    """Operand bits of each class of matrix op on one target."""

    linear: OperandBits
    lm_head: OperandBits
    attention: OperandBits
    format: str | None


def _native(target: TargetSpec, name: str) -> OperandBits:
    p = target.compute.precisions[name]
    return OperandBits(name, p.act_bits, p.weight_bits, p.act_bits)


def resolve_numerics(target: TargetSpec, format_name: str | None) -> Numerics:
    """Precisions and storage bits for ``target`` under ``format_name`` (None: target default)."""
    lm_head = _native(target, target.default_precision)
    attention = _native(target, target.attention_precision)
    if format_name is None:
        return Numerics(lm_head, lm_head, attention, None)
    bits = format_bits(format_name)
    precision = choose_precision(target, bits.weight_bits, bits.act_bits, f"format {format_name}")
    linear = OperandBits(precision, bits.act_bits, bits.weight_bits, bits.act_bits, bits.density)
    return Numerics(linear, lm_head, attention, format_name)
