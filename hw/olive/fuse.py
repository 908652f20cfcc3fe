"""The extra adder of a 2 × 2 PE group: four 4-bit PEs form one 8-bit OVP operation.

papers/olive.md ("Hardware"): "one extra adder per 4 PEs lets four 4-bit PEs form one 8-bit
operation". An OVP-8 integer ``v`` (−127..127) splits into nibbles ``v = 16·hi + lo`` with
``hi = v >> 4`` (signed, −8..7) and ``lo = v & 15`` (unsigned, 0..15); the array's PEs multiply
5-bit signed operands so either nibble fits (as BitFusion's sign-extended bit bricks). PE
``(r, c)`` of the group multiplies activation nibble ``r`` by weight nibble ``c`` (0 = low), so per
lane ``a·w = (p11 << 8) + ((p10 + p01) << 4) + p00``.

Timing: in the skewed array PE ``(r, c)`` sees a pair ``r + c`` cycles after PE ``(0, 0)``, so
``p00`` is delayed two cycles and ``p01``, ``p10`` one, to meet ``p11``; the sum is taken the cycle
PE ``(1, 1)`` holds the pair, with that PE's exponents, ``valid`` and ``clear``:
``acc ← (clear ? 0 : acc) + Σ_lane (a·w) << (a.exp + b.exp)``, 64 bits, wrapping. The 64-bit
accumulator is the registers of PEs ``(0, 0)`` (low word) and ``(0, 1)`` (high word), written
back through their ``load`` ports — no register of its own.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.pipeline import delay

NIBBLE = 4
"""Bits of one nibble of an 8-bit integer; the PEs multiply ``NIBBLE + 1``-bit signed values."""


class OvpFuseUnit(wiring.Component):
    """Group adder for 2 × 2 fusable :class:`~hw.olive.pe.OvpPe` s (latency 0; the sum is
    registered in the PEs).

    - ``p00``, ``p01``, ``p10``, ``p11``: lane products of PE ``(r, c)`` (signed ``product_width``);
    - ``a_exp``, ``w_exp``: exponents of PE ``(1, 1)``'s operands, per lane;
    - ``valid``, ``clear``: PE ``(1, 1)``'s;
    - ``acc_lo``, ``acc_hi``: the current low and high accumulator words (``word_width`` bits);
    - ``load``: write ``sum_lo`` / ``sum_hi`` into those registers on this edge.
    """

    def __init__(self, *, product_width: int, exp_width: int, word_width: int = 32):
        self.word_width = word_width
        product = data.ArrayLayout(signed(product_width), 2)
        exps = data.ArrayLayout(unsigned(exp_width), 2)
        word = signed(word_width)
        super().__init__({
            "p00": In(product), "p01": In(product), "p10": In(product), "p11": In(product),
            "a_exp": In(exps), "w_exp": In(exps), "valid": In(1), "clear": In(1),
            "acc_lo": In(word), "acc_hi": In(word),
            "load": Out(1), "sum_lo": Out(word), "sum_hi": Out(word),
        })

    def elaborate(self, platform):
        m = Module()
        width = 2 * self.word_width

        p00, p01, p10 = delay(m, self.p00, 2, "p00"), delay(m, self.p01, 1, "p01"), delay(m, self.p10, 1, "p10")
        acc = Cat(self.acc_lo, self.acc_hi).as_signed()
        total = Mux(self.clear, 0, acc)
        for lane in range(2):
            product = (self.p11[lane] << 2 * NIBBLE) + ((p10[lane] + p01[lane]) << NIBBLE) + p00[lane]
            total = total + (product << (self.a_exp[lane] + self.w_exp[lane]))[:width].as_signed()
        result = Signal(signed(width))
        m.d.comb += [result.eq(total), self.load.eq(self.valid),
                     self.sum_lo.eq(result[:self.word_width]),
                     self.sum_hi.eq(result[self.word_width:])]
        return m
