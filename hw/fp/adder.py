"""IEEE 754 binary addition, round to nearest, ties to even: :class:`FloatAdder`.

Datapath (``E`` exponent bits, ``M`` fraction bits, ``p = M + 1``):

1. unpack both operands; order them by magnitude so ``|x| ≥ |y|`` (``d = x.exp_eff − y.exp_eff ≥ 0``);
2. align: ``y``'s significand with three extra low bits (guard, round, sticky; M + 4 bits)
   shifted right by ``d``, every bit shifted out ORed into the lowest (sticky) bit;
3. add or subtract (signs differ) the aligned significands: M + 5 bits, carry included;
4. normalise: shift left by the leading-zero count, but never below exponent 1 (a result
   that would need more is subnormal);
5. round (guard and sticky below the kept p bits) and pack; overflow gives ±inf.

Why three extra bits suffice: when ``d ≥ 2`` the difference of the significands is more than
half of ``x``'s, so it needs at most one left shift, and replacing the shifted-out tail by one
sticky bit changes no bit at or above the round position nor whether anything is below it;
when ``d ≤ 1`` nothing is shifted out and the result is exact before rounding.

Signs: the result has the sign of the larger magnitude; an exact zero is +0 unless both
operands are −0 (RNE: ``x + (−x) = +0``, ``(−0) + (−0) = −0``). inf + (−inf) and any NaN
operand give the canonical NaN (:attr:`~hw.fp.format.FloatFormat.canonical_nan`).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp.datapath import (
    leading_zeros,
    minimum,
    named,
    round_pack,
    shift_right_sticky,
    special,
    unpack,
)
from hw.fp.format import FloatFormat

EXTRA_BITS = 3
"""Guard, round and sticky bits below the significand during alignment and addition."""


class FloatAdder(wiring.Component):
    """Combinational IEEE 754 adder (0 cycles), round to nearest even.

    - ``a``, ``b``: operands, ``fmt.width`` bits each (bit patterns: sign, exponent, fraction);
    - ``sum``: ``a + b``, ``fmt.width`` bits.

    Subtraction ``a − b`` is the caller flipping ``b``'s sign bit (top bit): IEEE defines it as
    exactly that, NaN operands included (the result is then the canonical NaN either way).
    """

    def __init__(self, fmt: FloatFormat):
        self.fmt = fmt
        super().__init__({"a": In(fmt.width), "b": In(fmt.width), "sum": Out(fmt.width)})

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        a, b = unpack(m, fmt, self.a, "a"), unpack(m, fmt, self.b, "b")

        # 1. order by magnitude: x the larger (|x| ≥ |y|), d = x.exp_eff − y.exp_eff ≥ 0 (E bits)
        swap = b.magnitude > a.magnitude
        x_sign, y_sign = Mux(swap, b.sign, a.sign), Mux(swap, a.sign, b.sign)
        x_exp, y_exp = Mux(swap, b.exp_eff, a.exp_eff), Mux(swap, a.exp_eff, b.exp_eff)
        x_sig, y_sig = Mux(swap, b.sig, a.sig), Mux(swap, a.sig, b.sig)
        d = (x_exp - y_exp)[:fmt.exp_bits]

        # 2. align: significands · 2^3 (M + 4 bits); y shifted right by d with sticky in bit 0
        x_ext = Cat(Const(0, EXTRA_BITS), x_sig)
        y_shifted, lost = shift_right_sticky(m, Cat(Const(0, EXTRA_BITS), y_sig), d, "y_aligned")
        y_ext = y_shifted | lost

        # 3. add or subtract: M + 5 bits (x_ext ≥ y_ext, so a difference is never negative)
        subtract = x_sign ^ y_sign
        raw = named(m, "sum_raw", Mux(subtract, x_ext - y_ext, x_ext + y_ext)[:fmt.man_bits + EXTRA_BITS + 2])
        exact_zero = ~raw.any()

        # 4. normalise: shift left by min(leading zeros, x_exp); hidden bit lands on the top bit
        #    (M + 4) unless the result is subnormal. Exponent field = x_exp + 1 − shift (E + 1).
        width = len(raw)
        zeros = leading_zeros(m, raw, "sum_zeros")
        shift = minimum(zeros, x_exp)
        normal = named(m, "sum_normal", (raw << shift)[:width])
        exp = named(m, "sum_exp", (x_exp + 1 - shift)[:fmt.exp_bits + 1])
        overflow = normal[width - 1] & (exp >= fmt.exp_all_ones)

        # 5. round and pack: kept = top M + 1 bits, guard below, sticky = the 3 bits below
        kept = normal[EXTRA_BITS + 1:]
        guard, sticky = normal[EXTRA_BITS], normal[:EXTRA_BITS].any()
        zero_sign = a.sign & b.sign
        sign = Mux(exact_zero, zero_sign, x_sign)
        rounded = round_pack(m, fmt, sign, exp, kept, guard, sticky, "sum_rounded")

        nan = a.nan | b.nan | (a.inf & b.inf & (a.sign != b.sign))
        inf = a.inf | b.inf | overflow  # the inf operand is x, so x_sign is its sign
        m.d.comb += self.sum.eq(special(fmt, x_sign, nan=nan, inf=inf, finite=rounded))
        return m
