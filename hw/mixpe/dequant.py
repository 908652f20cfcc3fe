"""``GroupDequant``: once per group and output, fold the group's partial sum into the output's
FP32 accumulator, in the golden order (:mod:`sim.formats.mixpe`):

- W4A8: ``D = P − z·S`` exactly in ``partial_sum_bits`` signed bits (``z·S`` by shift-and-add
  over z's 4 bits), then ``acc' = acc + s·float32(D)`` — one FP32 multiply, one FP32 add, each
  rounded to nearest even; ``float32(D)`` is exact (|D| < 2^24);
- W4A16: ``t = float32(z)·σ``, ``d = p − t``, ``acc' = acc + s·d`` — two FP32 multiplies and two
  FP32 adds, each rounded.

``s`` arrives as its stored FP16 bits and is widened exactly. Combinational: the array registers
``acc'`` into the output's accumulator. On a tile's first group ``acc`` is +0 (``first``), as the
golden ``acc = 0`` then ``acc = acc + …``.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp.adder import FloatAdder
from hw.fp.convert import FloatWiden, IntToFloat
from hw.fp.format import FP16, FP32
from hw.fp.multiplier import FloatMultiplier
from sim.formats.mixpe import ZERO_BITS


def negate(bits):
    """The FP32 bit pattern of ``−x`` (sign flipped): subtraction is addition of it."""
    return bits ^ Const(1 << (FP32.width - 1), FP32.width)


class GroupDequant(wiring.Component):
    """One output's group dequantization (see the module docstring).

    - ``p``: the group's partial sum (signed ``partial_sum_bits`` bits, or FP32 bits);
    - ``sum``: the token's group sum S (signed ``group_sum_bits`` bits) or σ (FP32 bits);
    - ``zero``: the group's zero point z (0..15); ``scale``: its scale s (FP16 bits);
    - ``acc``: the output's FP32 accumulator; ``first``: the tile's first group (acc taken as +0);
    - ``result``: ``acc + s·(P − z·S)`` (FP32 bits).
    """

    def __init__(self, activation: str, partial_sum_bits: int = 19, group_sum_bits: int = 15):
        if activation not in ("int8", "fp16"):
            raise ValueError(f"activation must be int8 or fp16, got {activation!r}")
        self.activation = activation
        self.partial_sum_bits = partial_sum_bits
        p, total = ((signed(partial_sum_bits), signed(group_sum_bits)) if activation == "int8"
                    else (FP32.width, FP32.width))
        super().__init__({"p": In(p), "sum": In(total), "zero": In(ZERO_BITS),
                          "scale": In(FP16.width), "acc": In(FP32.width), "first": In(1),
                          "result": Out(FP32.width)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.widen = widen = FloatWiden(FP16, FP32)
        m.submodules.scale = scale = FloatMultiplier(FP32)
        m.submodules.accumulate = accumulate = FloatAdder(FP32)
        m.d.comb += widen.a.eq(self.scale)
        if self.activation == "int8":
            d = Signal(signed(self.partial_sum_bits))
            z_s = sum(Mux(self.zero[b], self.sum << b, 0) for b in range(ZERO_BITS))
            m.submodules.to_float = to_float = IntToFloat(self.partial_sum_bits, FP32)
            m.d.comb += [d.eq(self.p - z_s), to_float.value.eq(d)]
            difference = to_float.result
        else:
            m.submodules.zero_float = zero_float = IntToFloat(ZERO_BITS + 1, FP32)
            m.submodules.times_zero = times_zero = FloatMultiplier(FP32)
            m.submodules.subtract = subtract = FloatAdder(FP32)
            m.d.comb += [zero_float.value.eq(self.zero),
                         times_zero.a.eq(zero_float.result), times_zero.b.eq(self.sum),
                         subtract.a.eq(self.p), subtract.b.eq(negate(times_zero.product))]
            difference = subtract.sum
        m.d.comb += [scale.a.eq(widen.result), scale.b.eq(difference),
                     accumulate.a.eq(Mux(self.first, 0, self.acc)), accumulate.b.eq(scale.product),
                     self.result.eq(accumulate.sum)]
        return m
