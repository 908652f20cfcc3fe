"""The OliVe exponent-shift processing element (papers/olive.md, "Hardware").

A decoded OVP value is an (exponent, integer) pair meaning ``integer << exponent``;
``<a, b> × <c, d> = <a + c, b · d>``, so a PE multiplies the integers, adds the exponents,
shifts the product left by the exponent sum and accumulates in a two's-complement register
(int32 for OVP-4; OVP-8 needs int64 because E4M3 outlier products reach 2^46 —
:func:`sim.formats.ovp.accumulator_bits`). The register wraps on overflow.

OVP stores values as aligned pairs along K, so a PE takes one *pair* of each operand per cycle
(two MAC lanes): ``acc += Σ_lane (a.int·b.int) << (a.exp + b.exp)``.

A *fusable* PE (the array's, :class:`hw.olive.array.OvpSystolicArray`) also serves the 8-bit
mode, where four PEs form one 8-bit operation (papers/olive.md "one extra adder per 4 PEs"):
it then only multiplies — its lane products leave on ``product`` for the group's
:class:`hw.olive.fuse.OvpFuseUnit` — and its accumulator register holds half of the group's
64-bit sum, written through ``load``.
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

    ``shift_exp_width`` is how many low exponent bits the PE's own shifter reads (default all):
    the array's PEs carry OVP-8 exponents (5 bits) for the 8-bit mode but shift only OVP-4
    exponents (0..6, 3 bits) themselves. ``fusable`` adds the 8-bit-mode ports:

    - ``fused``: do not accumulate (8-bit mode);
    - ``product``: ``a.int·b.int`` per lane, combinational, signed ``2·int_width`` bits;
    - ``load``, ``load_value``: ``acc ← load_value`` on this edge (takes precedence).
    """

    def __init__(self, *, exp_width: int, int_width: int, acc_width: int = 32,
                 shift_exp_width: int | None = None, fusable: bool = False):
        shift_exp_width = exp_width if shift_exp_width is None else shift_exp_width
        if (exp_width < 1 or int_width < 2 or acc_width < 2 * int_width
                or not 1 <= shift_exp_width <= exp_width):
            raise ValueError(f"OvpPe needs exp_width ≥ 1, int_width ≥ 2, acc_width ≥ "
                             f"2·int_width, 1 ≤ shift_exp_width ≤ exp_width; got {exp_width}, "
                             f"{int_width}, {acc_width}, {shift_exp_width}")
        self.exp_width, self.int_width, self.acc_width = exp_width, int_width, acc_width
        self.shift_exp_width, self.fusable = shift_exp_width, fusable
        value = ovp_pair_layout(exp_width, int_width)
        ports = {
            "a": In(value), "b": In(value), "valid": In(1), "clear": In(1),
            "a_out": Out(value), "b_out": Out(value), "valid_out": Out(1), "clear_out": Out(1),
            "acc": Out(signed(acc_width)),
        }
        if fusable:
            ports.update(fused=In(1), product=Out(data.ArrayLayout(signed(2 * int_width), 2)),
                         load=In(1), load_value=In(signed(acc_width)))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        w, s = self.acc_width, self.shift_exp_width
        lanes = [(self.a[i], self.b[i]) for i in range(2)]
        terms = [((a.int * b.int) << (a.exp[:s] + b.exp[:s]))[:w].as_signed() for a, b in lanes]
        total = Mux(self.clear, 0, self.acc) + terms[0] + terms[1]
        if self.fusable:
            m.d.comb += [self.product[i].eq(a.int * b.int) for i, (a, b) in enumerate(lanes)]
            with m.If(self.load):
                m.d.sync += self.acc.eq(self.load_value)
            with m.Elif(self.valid & ~self.fused):
                m.d.sync += self.acc.eq(total)
        else:
            with m.If(self.valid):
                m.d.sync += self.acc.eq(total)
        m.d.sync += [self.a_out.eq(self.a), self.b_out.eq(self.b),
                     self.valid_out.eq(self.valid), self.clear_out.eq(self.clear)]
        return m
