"""IEEE 754 binary multiplication, round to nearest, ties to even: :class:`FloatMultiplier`.

Datapath (``E`` exponent bits, ``M`` fraction bits):

1. unpack; the product of the significands ``P = a.sig · b.sig`` is exact (2M + 2 bits, top bit
   at 2M + 1 or 2M for normal operands, lower when an operand is subnormal);
2. exponent: if P's top bit were at 2M + 1 the biased field would be
   ``t = a.exp_eff + b.exp_eff − bias + 1`` (signed E + 3 bits);
3. normalise: shift P left by its leading-zero count ``z`` while the field ``t − z`` stays ≥ 1;
   short of that the result is subnormal: shift left by ``t − 1`` (``1 ≤ t ≤ z``) or right,
   with sticky, by ``1 − t`` (``t ≤ 0``, down to everything in the sticky bit);
4. round: the top M + 1 bits are kept, the next is the guard, the M bits below and the right
   shift's sticky are the sticky; pack; a field ≥ all-ones is ±inf.

The sign is ``a.sign ⊕ b.sign`` for every non-NaN result, zeros included. Any NaN operand and
inf × 0 give the canonical NaN; inf × non-zero is ±inf.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp.datapath import leading_zeros, named, round_pack, shift_right_sticky, special, unpack
from hw.fp.format import FloatFormat


class FloatMultiplier(wiring.Component):
    """Combinational IEEE 754 multiplier (0 cycles), round to nearest even.

    - ``a``, ``b``: operands, ``fmt.width`` bits each (bit patterns: sign, exponent, fraction);
    - ``product``: ``a × b``, ``fmt.width`` bits.
    """

    def __init__(self, fmt: FloatFormat):
        self.fmt = fmt
        super().__init__({"a": In(fmt.width), "b": In(fmt.width), "product": Out(fmt.width)})

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        e_bits, m_bits = fmt.exp_bits, fmt.man_bits
        a, b = unpack(m, fmt, self.a, "a"), unpack(m, fmt, self.b, "b")
        sign = a.sign ^ b.sign

        # 1. exact significand product: 2M + 2 bits
        width = 2 * m_bits + 2
        p = named(m, "mul_sig", a.sig * b.sig, width)

        # 2. the field if P's top bit were at 2M + 1: t = ea + eb − bias + 1 (signed E + 3 bits)
        t = Signal(signed(e_bits + 3), name="mul_exp_top")
        m.d.comb += t.eq(a.exp_eff + b.exp_eff - (fmt.bias - 1))

        # 3. normalise: left by min(z, t − 1) when t ≥ 1, else right by 1 − t (with sticky)
        zeros = leading_zeros(m, p, "mul_zeros")
        room = t - 1
        left = Signal(unsigned(width.bit_length()), name="mul_left")
        right = Signal(unsigned(e_bits + 3), name="mul_right")
        m.d.comb += [left.eq(Mux(room <= 0, 0, Mux(zeros < room, zeros, room))),
                     right.eq(Mux(room < 0, -room, 0))]
        shifted = named(m, "mul_shifted", (p << left)[:width])
        normal, lost = shift_right_sticky(m, shifted, right, "mul_normal")
        exp = Signal(signed(e_bits + 3), name="mul_exp")
        m.d.comb += exp.eq(t - left)  # the field when normal[2M + 1] (the hidden bit) is set
        overflow = normal[width - 1] & (exp >= fmt.exp_all_ones)

        # 4. round and pack: kept = top M + 1 bits, guard, sticky = M bits below | lost
        kept = normal[m_bits + 1:]
        guard, sticky = normal[m_bits], normal[:m_bits].any() | lost
        rounded = round_pack(m, fmt, sign, exp, kept, guard, sticky, "mul_rounded")

        nan = a.nan | b.nan | (a.inf & b.zero) | (a.zero & b.inf)
        inf = a.inf | b.inf | overflow
        m.d.comb += self.product.eq(special(fmt, sign, nan=nan, inf=inf, finite=rounded))
        return m
