"""The per-op numerics seam: the precision each matrix op runs at on a target, and how many bits
its operands occupy.

The number format tells, for each tensor by module name (``fmt.storage(role, name)``,
:class:`sim.formats.base.TensorStorage`): the width of the codes the MAC consumes, the storage
bits per logical element (codes + scales + metadata) and the kept fraction of weights. A format
with per-layer rules is therefore simulated per layer: ``flightllm-w4s`` has its q/k
projections at 4:16 (density 0.25, ≈ 2.1 bits per weight) and every other layer dense INT4.

A linear layer runs at the target's narrowest precision whose operand widths hold the format's
weight and activation code widths; without ``--format`` at the target's default precision. The
LM head and the attention products stay at the target's default / attention precision, as the
formats leave them unquantized.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError
from mapping.mapper import OperandBits
from models.trace.ops import Op, OpKind
from spec.schema import TargetSpec


def choose_precision(target: TargetSpec, weight_bits: int, act_bits: int, what: str) -> str:
    """The narrowest target precision holding ``weight_bits``-wide weight codes and
    ``act_bits``-wide activation codes."""
    fits = [(p.weight_bits + p.act_bits, -p.macs_per_cycle, name)
            for name, p in target.compute.precisions.items()
            if p.weight_bits >= weight_bits and p.act_bits >= act_bits]
    if not fits:
        have = ", ".join(f"{n} (W{p.weight_bits}A{p.act_bits})" for n, p in target.compute.precisions.items())
        raise UserError(f"target {target.name} cannot run {what}: it needs {weight_bits}-bit weights and "
                        f"{act_bits}-bit activations; the array supports {have}")
    return min(fits)[2]


def _native(target: TargetSpec, name: str) -> OperandBits:
    p = target.compute.precisions[name]
    return OperandBits(name, p.act_bits, p.weight_bits, p.act_bits)


@dataclass
class Numerics:
    """Operand bits of the matrix ops of one target under one number format (``fmt``: a format
    object of :mod:`sim.formats`, ``None`` for the target's own precisions). Linear layers are
    resolved per module name, once each."""

    target: TargetSpec
    fmt: Any
    lm_head: OperandBits
    attention: OperandBits
    _linear: dict[str, OperandBits] = field(default_factory=dict, repr=False)
    _weights: Counter = field(default_factory=Counter, repr=False)

    @property
    def format(self) -> str | None:
        """The format's name (``None``: the target's own precisions)."""
        return None if self.fmt is None else self.fmt.name

    @property
    def linear_precision(self) -> str:
        """The precision holding most of the linear layers' weights (all of them, unless the
        format has per-layer rules; every layer of a pass sees the same tokens, so this is also
        the precision of most linear MACs); the target's default without a format."""
        weights = self._weights
        return max(sorted(weights), key=weights.__getitem__) if weights else self.lm_head.precision

    def linear(self, name: str) -> OperandBits:
        """Operand bits of the linear layer ``name``."""
        bits = self._linear.get(name)
        if bits is None:
            bits = self._linear[name] = self._resolve(name)
        return bits

    def _resolve(self, name: str) -> OperandBits:
        if self.fmt is None:
            return self.lm_head
        w, a = self.fmt.storage("weight", name), self.fmt.storage("activation", name)
        precision = choose_precision(self.target, w.code_bits, a.code_bits,
                                     f"format {self.format} (layer {name})")
        return OperandBits(precision, a.bits, w.bits, a.bits, w.density)

    def for_op(self, op: Op) -> OperandBits:
        """Operand bits of any matrix op: linear per layer, LM head, attention products."""
        if op.kind is OpKind.LINEAR:
            return self.linear(op.name)
        if op.kind is OpKind.LM_HEAD:
            return self.lm_head
        return self.attention


def resolve_numerics(target: TargetSpec, fmt: str | Any | None, ops: Iterable[Op] = ()) -> Numerics:
    """Numerics of ``target`` under ``fmt`` (a registered format's name or a format object;
    ``None``: target default), with the linear layers among ``ops`` resolved now, so a layer the
    target cannot run is refused before any simulation."""
    if isinstance(fmt, str):
        from sim.formats.registry import get_format  # here: the formats load numba kernels

        fmt = get_format(fmt)
    numerics = Numerics(target, fmt, _native(target, target.default_precision),
                        _native(target, target.attention_precision))
    if fmt is not None:
        for op in ops:
            if op.kind is OpKind.LINEAR and op.name not in numerics._linear:
                numerics._weights[numerics.linear(op.name).precision] += op.k * op.n
    return numerics
