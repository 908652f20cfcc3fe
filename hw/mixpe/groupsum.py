"""``GroupSum``: Σx of one token over one weight group, computed once on the array's row edge
and shared by every output column (papers/mixpe.md, Eq. 4–5; :mod:`sim.formats.mixpe`).

W4A8: ``S = Σ x`` of INT8 activations in ``group_sum_bits`` signed bits (15 hold a group of
128). W4A16: ``σ = σ + x`` in FP32 (the widened FP16 activation), rounded to nearest even after
every add, ascending along K — the golden order.
"""

from __future__ import annotations

from amaranth import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fp.adder import FloatAdder
from hw.fp.convert import FloatWiden
from hw.fp.format import FP16, FP32
from sim.formats.mixpe import A_BITS


class GroupSum(wiring.Component):
    """One row's group sum.

    - ``x``: the row's activation (INT8, or FP16 bits when ``activation == "fp16"``);
    - ``valid``, ``first``, ``last``: an element, a group's first (the sum restarts with it),
      a group's last;
    - ``sum``: the group sum through the previous cycle's element (signed ``group_sum_bits``
      bits, or FP32 bits);
    - ``done``: ``sum`` holds a whole group (the cycle after its last element).
    """

    def __init__(self, activation: str, group_sum_bits: int = 15):
        if activation not in ("int8", "fp16"):
            raise ValueError(f"activation must be int8 or fp16, got {activation!r}")
        self.activation = activation
        x, total = ((signed(A_BITS), signed(group_sum_bits)) if activation == "int8"
                    else (FP16.width, FP32.width))
        super().__init__({"x": In(x), "valid": In(1), "first": In(1), "last": In(1),
                          "sum": Out(total), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        start = Mux(self.first, 0, self.sum)
        if self.activation == "int8":
            value = start + self.x
        else:
            m.submodules.widen = widen = FloatWiden(FP16, FP32)
            m.submodules.add = add = FloatAdder(FP32)
            m.d.comb += [widen.a.eq(self.x), add.a.eq(start), add.b.eq(widen.result)]
            value = add.sum
        with m.If(self.valid):
            m.d.sync += self.sum.eq(value)
        m.d.sync += self.done.eq(self.valid & self.last)
        return m
