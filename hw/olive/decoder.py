"""The OliVe edge decoder: one OVP pair of codes → two (exponent, integer) values.

Implements :func:`sim.formats.ovp.decode_fields` from the bit fields, for every code pattern
(including ones the encoder never produces). The grids, biases and field widths come from the
:class:`~sim.formats.ovp.OvpType` objects of the golden model, never from constants here.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.olive.pe import ovp_pair_layout
from sim.formats.ovp import FLINT4, INT4, INT8_E4M3, OvpType

NORMAL_TYPES = {4: (INT4, FLINT4), 8: (INT8_E4M3,)}
"""Normal types the hardware supports per code width; the ``normal`` input indexes this tuple."""


def normal_width(bits: int) -> int:
    """Width of a ``normal`` type-select port: at least 1 bit (OVP-8 has one type and ignores
    it; a 0-bit port would not be valid Verilog)."""
    return max(1, (len(NORMAL_TYPES[bits]) - 1).bit_length())


def value_widths(bits: int) -> tuple[int, int]:
    """(exponent bits, signed integer bits) of a decoded value: OVP-4 (3, 4), OVP-8 (5, 8)."""
    types = NORMAL_TYPES[bits]
    max_exp = max(max(int(t.exp_int[:, 0].max()), t.bias + (1 << t.exp_bits) - 1) for t in types)
    max_int = max(max(int(t.exp_int[:, 1].max()), (2 << t.man_bits) - 1) for t in types)
    return max(1, max_exp.bit_length()), max_int.bit_length() + 1


def pair_layout(bits: int) -> data.ArrayLayout:
    """Two decoded values (even element first)."""
    return ovp_pair_layout(*value_widths(bits))


class OvpDecoder(wiring.Component):
    """Combinational OVP decoder (0 cycles).

    - ``code``: ``2·bits`` bits, the even element's code in the low half (OVP-4: one byte);
    - ``normal``: index into :data:`NORMAL_TYPES` ``[bits]`` (OVP-4: 0 = int4, 1 = flint4;
      OVP-8 ignores it);
    - ``value``: the two decoded values, :func:`pair_layout`.

    Rule: even code = identifier → even is the victim ``<0, 0>``, odd is an outlier; else odd
    code = identifier → odd is the victim, even an outlier; else both are normal.
    """

    def __init__(self, bits: int = 4):
        if bits not in NORMAL_TYPES:
            raise ValueError(f"OVP codes are 4 or 8 bits, got {bits}")
        self.bits = bits
        self.types = NORMAL_TYPES[bits]
        super().__init__({"code": In(2 * bits), "normal": In(normal_width(self.bits)),
                          "value": Out(pair_layout(bits))})

    def elaborate(self, platform):
        m = Module()
        b = self.bits
        ident = 1 << (b - 1)
        codes = [self.code[:b], self.code[b:]]
        even_victim = codes[0] == ident
        odd_victim = ~even_victim & (codes[1] == ident)
        victim = [even_victim, odd_victim]
        outlier = [odd_victim, even_victim]
        for lane, c in enumerate(codes):
            readings = [(_normal_reading(t, c), _outlier_reading(t, c)) for t in self.types]
            (ne, ni), (oe, oi) = readings[0]
            for index, ((tne, tni), (toe, toi)) in enumerate(readings[1:], start=1):
                chosen = self.normal == index
                ne, ni = Mux(chosen, tne, ne), Mux(chosen, tni, ni)
                oe, oi = Mux(chosen, toe, oe), Mux(chosen, toi, oi)
            v = self.value[lane]
            m.d.comb += [
                v.exp.eq(Mux(victim[lane], 0, Mux(outlier[lane], oe, ne))),
                v.int.eq(Mux(victim[lane], 0, Mux(outlier[lane], oi, ni))),
            ]
        return m


def _normal_reading(t: OvpType, c):
    """(exponent, integer) of code ``c`` read as a normal value of type ``t``: int types are
    two's complement ``<0, c>``; sign-magnitude (flint4) looks the magnitude index up in the
    golden model's ``exp_int`` table."""
    if t.signed_magnitude:
        exp_rom = Array(Const(int(e), unsigned(8)) for e in t.exp_int[:, 0])
        int_rom = Array(Const(int(i), unsigned(8)) for i in t.exp_int[:, 1])
        idx = c[:t.bits - 1]
        mag = int_rom[idx]
        return exp_rom[idx], Mux(c[t.bits - 1], -mag, mag)
    return Const(0, 1), c.as_signed()


def _outlier_reading(t: OvpType, c):
    """(exponent, integer) of code ``c`` read as an abfloat outlier of type ``t``:
    ``<e + bias, ±(2^M + m)>``."""
    e = c[t.man_bits:t.man_bits + t.exp_bits] + t.bias
    mag = Const(1 << t.man_bits, unsigned(t.man_bits + 1)) | c[:t.man_bits]
    return e, Mux(c[t.bits - 1], -mag, mag)
