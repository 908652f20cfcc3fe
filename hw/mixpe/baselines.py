"""Baseline PEs for the MixPE area comparison: what a GPU/TPU-style PE spends on the same work.

Each has the shift-and-add PEs' port protocol (:mod:`hw.mixpe.pe`: one element per cycle with
``valid`` / ``first`` / ``last``, ``p`` the running sum, ``done``, the ``*_out`` hop copies) and
accumulates into the same width as its shift-and-add counterpart, but multiplies with ``*``:

- :class:`Int8MacPe`: INT8 weight × INT8 activation (the paper's INT8×INT8 PE);
- :class:`DequantInt4Int8Pe`: INT4 code and zero point dequantized to ``w = q − z`` inside the
  loop, then ``w·x``: the same ``P − z·S`` per group as the MixPE algebra (papers/mixpe.md);
- :class:`Fp16MacPe`: FP16 × FP16 → exact FP32 product, FP32 sum (the paper's normaliser).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring

from hw.fp.adder import FloatAdder
from hw.fp.convert import FloatWiden
from hw.fp.format import FP16, FP32
from hw.fp.multiplier import FloatMultiplier
from hw.mixpe.pe import PRODUCT_BITS, accumulate, pe_signature
from sim.formats.mixpe import A_BITS, W_BITS, ZERO_BITS

INT8_PRODUCT_BITS = 2 * A_BITS
"""Signed bits of one INT8 × INT8 product: −128·127 ≤ w·x ≤ (−128)² = 2^14."""


def _check_width(partial_sum_bits: int, product_bits: int) -> None:
    if partial_sum_bits < product_bits:
        raise ValueError(f"partial_sum_bits must be ≥ {product_bits}, got {partial_sum_bits}")


class Int8MacPe(wiring.Component):
    """INT8 × INT8 MAC PE: ``p = Σ w·x`` with one ``*`` multiplier.

    - ``x``: INT8 activation; ``w``: INT8 weight, −128..127 (both two's complement);
    - ``valid``, ``first``, ``last``, ``done``, ``*_out``: as :class:`~hw.mixpe.pe.ShiftAddPeW4A8`;
    - ``p``: the group partial sum, ``partial_sum_bits`` signed bits, wrapping — 19 bits as its
      W4A8 counterpart, which a group of full-range INT8 weights can overflow (it needs 23).
    """

    def __init__(self, partial_sum_bits: int = 19):
        _check_width(partial_sum_bits, INT8_PRODUCT_BITS)
        self.partial_sum_bits = partial_sum_bits
        super().__init__(pe_signature({"x": signed(A_BITS), "w": signed(A_BITS)},
                                      signed(partial_sum_bits)))

    def elaborate(self, platform):
        m = Module()
        product = Signal(signed(INT8_PRODUCT_BITS))
        m.d.comb += product.eq(self.w * self.x)
        accumulate(m, self, Mux(self.first, 0, self.p) + product)
        return m


class DequantInt4Int8Pe(wiring.Component):
    """INT4 weight dequantized inside the loop, then an INT8 multiply: ``p = Σ (q − z)·x``.

    - ``x``: INT8 activation (two's complement); ``q``: the weight code 0..15; ``zero``: the
      group's zero point 0..15 (hold it for the group; it is sampled with every element);
    - ``valid``, ``first``, ``last``, ``done``, ``*_out``: as :class:`~hw.mixpe.pe.ShiftAddPeW4A8`;
    - ``p``: the group partial sum, ``partial_sum_bits`` signed bits (wrapping).

    ``w = q − z`` is a signed 5-bit integer (−15..15, the weight a GPU/TPU forms before its MAC)
    and ``|w·x| ≤ 15·128 < 2^11``, so a group's sum is the MixPE ``D = P − z·S`` and needs the
    same bits (19 for a group of 128).
    """

    def __init__(self, partial_sum_bits: int = 19):
        _check_width(partial_sum_bits, PRODUCT_BITS)
        self.partial_sum_bits = partial_sum_bits
        super().__init__(pe_signature({"x": signed(A_BITS), "q": W_BITS, "zero": ZERO_BITS},
                                      signed(partial_sum_bits)))

    def elaborate(self, platform):
        m = Module()
        w = Signal(signed(W_BITS + 1))
        product = Signal(signed(PRODUCT_BITS))
        m.d.comb += [w.eq(self.q - self.zero), product.eq(w * self.x)]
        accumulate(m, self, Mux(self.first, 0, self.p) + product)
        return m


class Fp16MacPe(wiring.Component):
    """FP16 × FP16 MAC PE with an FP32 partial sum: ``p = p + float32(x)·float32(w)``.

    - ``x``: FP16 activation bits; ``w``: FP16 weight bits (finite; inf and NaN follow IEEE);
    - ``valid``, ``first``, ``last``, ``done``, ``*_out``: as :class:`~hw.mixpe.pe.ShiftAddPeW4A8`;
    - ``p``: the group partial sum, FP32 bits, as :class:`~hw.mixpe.pe.ShiftAddPeW4A16`'s.

    Both operands are widened to FP32 (exact) and multiplied by an FP32 multiplier: the product
    of two FP16 values is exact in FP32 (11 × 11 significand bits ≤ 24; 2^−48 ≤ |x·w| < 2^32),
    so only ``p = p + x·w`` rounds (RNE), in the same order as the W4A16 PE.
    """

    def __init__(self):
        super().__init__(pe_signature({"x": FP16.width, "w": FP16.width}, FP32.width))

    def elaborate(self, platform):
        m = Module()
        m.submodules.widen_x = widen_x = FloatWiden(FP16, FP32)
        m.submodules.widen_w = widen_w = FloatWiden(FP16, FP32)
        m.submodules.mul = mul = FloatMultiplier(FP32)
        m.submodules.add = add = FloatAdder(FP32)
        m.d.comb += [widen_x.a.eq(self.x), widen_w.a.eq(self.w),
                     mul.a.eq(widen_x.result), mul.b.eq(widen_w.result),
                     add.a.eq(Mux(self.first, 0, self.p)), add.b.eq(mul.product)]
        accumulate(m, self, add.sum)
        return m
