"""The MixPE shift-and-add PEs: one INT4 weight code × one activation per cycle, no multiplier.

Both accumulate one weight group's partial sum in exactly the golden model's order
(:mod:`sim.formats.mixpe`) and forward their operands to the next PE (one register per hop), as
the array's PEs:

- :class:`ShiftAddPeW4A8`: INT8 activation x, ``P = Σ q·x`` with ``q·x = Σ_b q_b·(x ≪ b)`` in a
  ``partial_sum_bits`` two's-complement register (19 bits hold a group of 128);
- :class:`ShiftAddPeW4A16`: FP16 activation, widened to FP32 (exact), ``p = p + q·x`` in FP32
  with round to nearest even, ``q·x = Σ_b q_b·(x·2^b)``.

Port timing: the operands are sampled at the rising edge that ends the cycle they are presented
in; ``first`` restarts the sum with that element (``p = 0 + q·x``, the golden ``p = 0`` then
``p = p + q·x``); ``p`` holds the sum through the element presented in the previous cycle.
``*_out`` are the operands and controls one cycle later, for the neighbouring PE.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp.adder import FloatAdder
from hw.fp.convert import FloatWiden
from hw.fp.format import FP16, FP32
from sim.formats.mixpe import A_BITS, W_BITS

PRODUCT_BITS = A_BITS + W_BITS
"""Signed bits of one INT8 × INT4 product: |x·q| ≤ 127·15 < 2^11."""


CONTROLS = {"valid": 1, "first": 1, "last": 1}
"""The element protocol every PE takes beside its operands."""


def pe_signature(operands: dict, sum_shape) -> dict:
    """A PE's ports: ``operands`` (name → shape) and :data:`CONTROLS` in; ``p`` (``sum_shape``)
    and ``done`` out; and ``<name>_out``, every input one cycle later (one hop)."""
    shapes = operands | CONTROLS
    return ({name: In(shape) for name, shape in shapes.items()}
            | {"p": Out(sum_shape), "done": Out(1)}
            | {f"{name}_out": Out(shape) for name, shape in shapes.items()})


def accumulate(m: Module, pe: wiring.Component, value) -> None:
    """``p`` takes ``value`` (the sum through this element) when the element is valid; ``done``
    marks the cycle after a group's last element, the one cycle ``p`` holds that group's sum;
    every input is registered into its ``<name>_out`` (the hop to the neighbouring PE)."""
    with m.If(pe.valid):
        m.d.sync += pe.p.eq(value)
    m.d.sync += pe.done.eq(pe.valid & pe.last)
    for name, member in pe.signature.members.items():
        if member.flow == In:
            m.d.sync += getattr(pe, f"{name}_out").eq(getattr(pe, name))


class ShiftAddPeW4A8(wiring.Component):
    """W4A8 shift-and-add PE.

    - ``x``: INT8 activation (two's complement, −127..127 from the golden encoder, any value
      accepted); ``q``: the weight code 0..15;
    - ``valid``: ``x`` and ``q`` hold an element this cycle; ``first`` / ``last``: it is a
      group's first / last;
    - ``p``: the group partial sum, ``partial_sum_bits`` signed bits (wrapping);
    - ``done``: ``p`` holds a whole group's sum (the cycle after its last element);
    - ``x_out``, ``q_out``, ``valid_out``, ``first_out``, ``last_out``: the inputs one cycle
      later.
    """

    def __init__(self, partial_sum_bits: int = 19):
        if partial_sum_bits < PRODUCT_BITS:
            raise ValueError(f"partial_sum_bits must be ≥ {PRODUCT_BITS}, got {partial_sum_bits}")
        self.partial_sum_bits = partial_sum_bits
        super().__init__(pe_signature({"x": signed(A_BITS), "q": W_BITS}, signed(partial_sum_bits)))

    def elaborate(self, platform):
        m = Module()
        # q·x as Σ_b q_b·(x ≪ b): four shifted copies of x, each kept or dropped by one code bit
        product = Signal(signed(PRODUCT_BITS))
        m.d.comb += product.eq(sum(Mux(self.q[b], self.x << b, 0) for b in range(W_BITS)))
        accumulate(m, self, Mux(self.first, 0, self.p) + product)
        return m


class ShiftAddPeW4A16(wiring.Component):
    """W4A16 shift-and-add PE (FP32 partial sums).

    - ``x``: FP16 activation bits (the golden encoder never emits inf or NaN); ``q``: code 0..15;
    - ``valid``, ``first``, ``last``, ``done``, ``*_out``: as :class:`ShiftAddPeW4A8`;
    - ``p``: the group partial sum, FP32 bits.

    ``q·x`` is exact in FP32 (:mod:`sim.formats.mixpe`: an 11-bit significand times a 4-bit
    code needs 15 bits) and is formed without a multiplier: the copies ``x·2^b`` (exponent + b)
    of the set code bits are aligned to x's exponent, which shifts the 24-bit significand left
    by b, and summed exactly (``Σ_b q_b·(m ≪ b)`` < 15·2^24, 28 bits); the sum is normalised
    by its leading one (bit 23..27) into exponent ``e + 0..4``, dropping at most 4 low bits,
    all zero (an FP16 significand has 13 trailing zeros in FP32). Only ``p = p + q·x`` rounds (RNE).
    """

    def __init__(self):
        super().__init__(pe_signature({"x": FP16.width, "q": W_BITS}, FP32.width))

    def elaborate(self, platform):
        m = Module()
        m.submodules.widen = widen = FloatWiden(FP16, FP32)
        m.submodules.add = add = FloatAdder(FP32)
        m.d.comb += widen.a.eq(self.x)
        x = widen.result
        sign, exp, frac = x[31], x[23:31], x[:23]
        mant = Cat(frac, exp != 0)  # 24-bit significand; FP16 values are normal (or 0) in FP32
        shifted = Signal(FP32.man_bits + 1 + W_BITS)
        m.d.comb += shifted.eq(sum(Mux(self.q[b], mant << b, 0) for b in range(W_BITS)))
        product = Signal(FP32.width)
        top = FP32.man_bits  # bit 23: the leading one of an unshifted significand
        m.d.comb += product.eq(Cat(Const(0, 31), sign))  # ±0: q = 0 or x = ±0 (sign of 0·x)
        with m.If((exp != 0) & (self.q != 0)):
            for lead in range(W_BITS + 1):  # highest set bit of `shifted` is top + lead
                with m.If(shifted[top + lead]):
                    m.d.comb += product.eq(Cat(shifted[lead:top + lead], (exp + lead)[:8], sign))
        m.d.comb += [add.a.eq(Mux(self.first, 0, self.p)), add.b.eq(product)]
        accumulate(m, self, add.sum)
        return m
