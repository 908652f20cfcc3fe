"""Conversions into IEEE 754 binary formats: :class:`IntToFloat` (RNE) and :class:`FloatWiden`
(exact)."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp.datapath import leading_zeros, named, round_pack, special, unpack
from hw.fp.format import FloatFormat


class IntToFloat(wiring.Component):
    """Combinational signed integer → float (0 cycles), round to nearest even.

    - ``value``: a two's-complement integer, ``int_bits`` bits (signed);
    - ``result``: the float, ``fmt.width`` bits (bit pattern).

    Exact whenever ``|value| < 2^(M + 1)``; 0 gives +0; a magnitude that rounds past the
    largest finite value (FP16 from 17 or more bits) gives ±inf. Datapath: sign and magnitude
    (``int_bits`` bits unsigned — −2^(n−1) fits), leading-zero count ``z``, shift left by ``z``
    so the top bit is the hidden bit, exponent field ``bias + n − 1 − z``, then the top M + 1
    bits are kept and the rest rounds (guard, sticky).
    """

    def __init__(self, int_bits: int, fmt: FloatFormat):
        if int_bits < 2:
            raise ValueError(f"a signed integer needs at least 2 bits, got {int_bits}")
        self.int_bits, self.fmt = int_bits, fmt
        super().__init__({"value": In(signed(int_bits)), "result": Out(fmt.width)})

    def elaborate(self, platform):
        m = Module()
        fmt, n, m_bits = self.fmt, self.int_bits, self.fmt.man_bits
        sign = named(m, "int_sign", self.value[n - 1])
        magnitude = named(m, "int_magnitude", Mux(sign, -self.value, self.value)[:n])  # n bits

        # normalise: top bit to position n − 1; pad below to at least M + 2 bits (kept + guard)
        zeros = leading_zeros(m, magnitude, "int_zeros")
        top = named(m, "int_normal", (magnitude << zeros)[:n])
        pad = max(0, m_bits + 2 - n)
        frame = Cat(Const(0, pad), top) if pad else top
        width = len(frame)
        exp = named(m, "int_exp", (fmt.bias + n - 1) - zeros, (fmt.bias + n).bit_length())
        overflow = exp >= fmt.exp_all_ones

        # round and pack: kept = top M + 1 bits, guard, sticky = the rest (none if n ≤ M + 2)
        kept, guard = frame[width - m_bits - 1:], frame[width - m_bits - 2]
        sticky = frame[:width - m_bits - 2].any() if width > m_bits + 2 else Const(0, 1)
        rounded = round_pack(m, fmt, sign, exp, kept, guard, sticky, "int_rounded")
        # 0: the field is bias − 1 (no overflow) and kept[M] = 0, so round_pack gives +0
        m.d.comb += self.result.eq(special(fmt, sign, nan=0, inf=overflow, finite=rounded))
        return m


def widen_problem(src: FloatFormat, dst: FloatFormat) -> str | None:
    """Why ``dst`` does not hold every ``src`` value as a normal number (or a zero, inf, NaN):
    it needs at least ``src``'s fraction bits and an exponent range reaching ``src``'s
    smallest subnormal and largest finite value; ``None`` when it does."""
    if dst.man_bits < src.man_bits:
        return f"{dst.name} has fewer fraction bits ({dst.man_bits}) than {src.name} ({src.man_bits})"
    lowest = 1 - src.bias - src.man_bits  # unbiased exponent of the smallest subnormal
    highest = src.exp_all_ones - 1 - src.bias
    if lowest + dst.bias < 1 or highest + dst.bias >= dst.exp_all_ones:
        return f"{dst.name}'s exponent range does not hold {src.name}'s as normal numbers"
    return None


class FloatWiden(wiring.Component):
    """Combinational exact format widening (0 cycles), e.g. FP16 → FP32.

    - ``a``: a ``src`` pattern, ``src.width`` bits;
    - ``result``: the same value as a ``dst`` pattern, ``dst.width`` bits.

    Normal values re-bias the exponent and append zero fraction bits; a subnormal ``src`` value
    becomes a normal ``dst`` value (leading zeros of the fraction ``z``: field
    ``dst.bias − src.bias − z``, fraction shifted left by ``z + 1`` to drop its leading 1);
    ±0 and ±inf keep their sign; every NaN becomes ``dst``'s canonical NaN.
    """

    def __init__(self, src: FloatFormat, dst: FloatFormat):
        if problem := widen_problem(src, dst):
            raise ValueError(problem)
        self.src, self.dst = src, dst
        super().__init__({"a": In(src.width), "result": Out(dst.width)})

    def elaborate(self, platform):
        m = Module()
        src, dst = self.src, self.dst
        ms, extra = src.man_bits, dst.man_bits - src.man_bits
        a = unpack(m, src, self.a, "a")
        rebias = dst.bias - src.bias

        # subnormal: z leading zeros in the M_src-bit fraction; its leading 1 becomes hidden
        zeros = leading_zeros(m, a.frac, "widen_zeros")
        sub_frac = named(m, "widen_sub_frac", (a.frac << (zeros + 1))[:ms])
        sub_exp = named(m, "widen_sub_exp", rebias - zeros, dst.exp_bits)
        subnormal = ~a.exp.any() & ~a.zero

        frac = Mux(subnormal, sub_frac, a.frac)
        exp = Mux(subnormal, sub_exp, Mux(a.zero, 0, a.exp + rebias))
        finite = named(m, "widen_finite", Cat(Const(0, extra), frac, exp[:dst.exp_bits], a.sign))
        m.d.comb += self.result.eq(special(dst, a.sign, nan=a.nan, inf=a.inf, finite=finite))
        return m
