"""The OliVe exponent-shift processing element (papers/olive.md, "Hardware").

A decoded OVP value is an (exponent, integer) pair meaning ``integer << exponent``;
``<a, b> × <c, d> = <a + c, b · d>``, so a PE multiplies the integers, adds the exponents,
shifts the product left by the exponent sum and accumulates in a two's-complement register
(int32 for OVP-4; OVP-8 needs int64 because E4M3 outlier products reach 2^46 —
:func:`sim.formats.ovp.accumulator_bits`). The register wraps on overflow.

OVP stores values as aligned pairs along K, so a PE takes one *pair* of each operand per cycle
(two MAC lanes): ``acc += Σ_lane (a.int·b.int) << (a.exp + b.exp)``.
"""

from __future__ import annotations

from amaranth import Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


def ovp_value_layout(exp_width: int, int_width: int) -> data.StructLayout:
    """A decoded OVP value: ``int`` (signed, low bits) then ``exp`` (unsigned, high bits)."""
    return data.StructLayout({"int": signed(int_width), "exp": unsigned(exp_width)})


def ovp_pair_layout(exp_width: int, int_width: int) -> data.ArrayLayout:
    """Two decoded values of one OVP pair, even element first."""
    return data.ArrayLayout(ovp_value_layout(exp_width, int_width), 2)


class OvpPe(wiring.Component):
    """One output-stationary PE, one OVP pair per cycle (latency 1 cycle):
    ``acc ← (clear ? 0 : acc) + Σ_lane (a.int·b.int) << (a.exp + b.exp)``.

    Ports (sampled on the rising edge):

    - ``a``, ``b``: decoded operand pairs (:func:`ovp_pair_layout`), 2·(exp_width + int_width) bits;
    - ``valid``: accumulate this cycle; ``clear``: start a new sum with this pair;
    - ``a_out``, ``b_out``, ``valid_out``, ``clear_out``: the inputs delayed one cycle, for the
      right (``a``) and lower (``b``) neighbour in a systolic array;
    - ``acc``: the running sum, signed ``acc_width`` bits, wrapping on overflow.
    """

    def __init__(self, *, exp_width: int, int_width: int, acc_width: int = 32):
        if exp_width < 1 or int_width < 2 or acc_width < 2 * int_width:
            raise ValueError(f"OvpPe needs exp_width ≥ 1, int_width ≥ 2, acc_width ≥ "
                             f"2·int_width; got {exp_width}, {int_width}, {acc_width}")
        self.exp_width, self.int_width, self.acc_width = exp_width, int_width, acc_width
        value = ovp_pair_layout(exp_width, int_width)
        super().__init__({
            "a": In(value), "b": In(value), "valid": In(1), "clear": In(1),
            "a_out": Out(value), "b_out": Out(value), "valid_out": Out(1), "clear_out": Out(1),
            "acc": Out(signed(acc_width)),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.acc_width
        terms = [((a.int * b.int) << (a.exp + b.exp))[:w].as_signed()
                 for a, b in ((self.a[i], self.b[i]) for i in range(2))]
        with m.If(self.valid):
            m.d.sync += self.acc.eq(Mux(self.clear, 0, self.acc) + terms[0] + terms[1])
        m.d.sync += [self.a_out.eq(self.a), self.b_out.eq(self.b),
                     self.valid_out.eq(self.valid), self.clear_out.eq(self.clear)]
        return m
