"""Combinational building blocks shared by the :mod:`hw.fp` units (Amaranth expressions).

Widths below use ``E`` = exponent bits, ``M`` = stored fraction bits of the format. Each helper
adds named ``comb`` signals to the module it is given, so the generated Verilog (and a wave
file) shows every stage of the datapath under the prefix the caller chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.hdl import Value

from hw.fp.format import FloatFormat


def named(m: Module, name: str, value, width: int | None = None) -> Signal:
    """``value`` as a named ``comb`` signal (of ``width`` bits if given)."""
    value = Value.cast(value)
    sig = Signal(unsigned(len(value) if width is None else width), name=name)
    m.d.comb += sig.eq(value)
    return sig


@dataclass(frozen=True)
class Operand:
    """One unpacked operand: ``sign`` (1), ``exp`` the exponent field (E), ``frac`` the fraction
    field (M); ``exp_eff`` the exponent the significand is scaled by (E: ``exp``, or 1 for a
    zero or subnormal); ``sig`` the significand with its hidden bit (M + 1: ``1.frac``, or
    ``0.frac`` when ``exp`` = 0); the classes ``zero``, ``inf``, ``nan`` (1 each).

    A finite operand's value is ``(−1)^sign · sig · 2^(exp_eff − bias − M)``.
    """

    sign: Value
    exp: Value
    frac: Value
    exp_eff: Value
    sig: Value
    zero: Value
    inf: Value
    nan: Value

    @property
    def magnitude(self) -> Value:
        """``{exp, frac}`` (E + M): orders finite magnitudes (and inf above them) as integers."""
        return Cat(self.frac, self.exp)


def unpack(m: Module, fmt: FloatFormat, bits, name: str) -> Operand:
    """Split a ``fmt.width``-bit pattern into its fields and classes."""
    e_bits, m_bits = fmt.exp_bits, fmt.man_bits
    frac = named(m, f"{name}_frac", bits[:m_bits])
    exp = named(m, f"{name}_exp", bits[m_bits:m_bits + e_bits])
    # reductions, not `== 0`: Amaranth writes that as Verilog `!x`, which lint flags on a vector
    hidden, fraction = exp.any(), frac.any()
    all_ones = exp == fmt.exp_all_ones
    return Operand(
        sign=named(m, f"{name}_sign", bits[fmt.width - 1]),
        exp=exp, frac=frac,
        exp_eff=named(m, f"{name}_exp_eff", Mux(hidden, exp, 1), e_bits),
        sig=named(m, f"{name}_sig", Cat(frac, hidden)),
        zero=named(m, f"{name}_zero", ~hidden & ~fraction),
        inf=named(m, f"{name}_inf", all_ones & ~fraction),
        nan=named(m, f"{name}_nan", all_ones & fraction),
    )


def leading_zeros(m: Module, value, name: str) -> Signal:
    """Leading zeros of ``value`` (w bits): 0 when its top bit is set, w when it is 0.
    A priority encoder: the highest set bit decides (bits_for(w) bits)."""
    value = Value.cast(value)
    w = len(value)
    count = Const(w, unsigned(w.bit_length()))
    for i in range(w):  # later (higher) bits take precedence
        count = Mux(value[i], w - 1 - i, count)
    return named(m, name, count, w.bit_length())


def minimum(a, b):
    """The smaller of two unsigned values."""
    return Mux(a < b, a, b)


def shift_right_sticky(m: Module, value, amount, name: str) -> tuple[Signal, Signal]:
    """``value`` (w bits) shifted right by ``amount`` (any width, any size): the w kept bits and
    the sticky bit (1 when any 1 was shifted out). Shifts ≥ w keep nothing; the amount is
    clamped to w first so the shifter is only ``2w`` bits wide."""
    value = Value.cast(value)
    w = len(value)
    amount = Value.cast(amount)
    clamped = named(m, f"{name}_amount", Mux(amount > w, w, amount), w.bit_length())
    wide = named(m, f"{name}_wide", Cat(Const(0, w), value) >> clamped)  # 2w: kept | shifted out
    return named(m, name, wide[w:]), named(m, f"{name}_sticky", wide[:w].any())


def round_pack(m: Module, fmt: FloatFormat, sign, exp, kept, guard, sticky, name: str) -> Signal:
    """Round to nearest, ties to even, and pack: a ``fmt.width``-bit pattern.

    ``kept`` (M + 1 bits) is the significand with its hidden bit ``kept[M]``; ``guard`` the next
    bit down and ``sticky`` the OR of all bits below. ``exp`` is the biased exponent field when
    ``kept[M]`` is set (it must be below all-ones: overflow is the caller's), else the value is
    subnormal and the field is 0. The increment is added to ``{field, fraction}`` as one
    integer, so its carry moves a subnormal to the smallest normal, ``1.11…1`` to the next
    binade and the largest finite value to inf — each exactly right.
    """
    e_bits, m_bits = fmt.exp_bits, fmt.man_bits
    field = Mux(kept[m_bits], exp, 0)
    round_up = named(m, f"{name}_round_up", guard & (sticky | kept[0]))
    magnitude = named(m, f"{name}_magnitude", Cat(kept[:m_bits], field[:e_bits]) + round_up,
                       e_bits + m_bits)  # ≤ the inf pattern: no carry out
    return named(m, name, Cat(magnitude, sign))


def special(fmt: FloatFormat, sign, *, nan, inf, finite) -> Value:
    """The result pattern: the canonical NaN if ``nan``, else ±inf if ``inf``, else ``finite``."""
    return Mux(nan, fmt.canonical_nan, Mux(inf, Cat(Const(fmt.inf, fmt.width - 1), sign), finite))
