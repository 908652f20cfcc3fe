"""``Dsp48e2Slice``: the arithmetic of one DSP48E2 as the CSD chain uses it, written so that
Yosys maps its multiplier onto a DSP48E2 (``synth_xilinx -family xcup``), plus the two-token
packing of its A port and the exact split of its P into the two tokens' lanes.

Packing (papers/flightllm.md: two INT8 MACs per DSP48, two activations sharing one weight):
``A = x_high·2^18 + x_low`` (27 bits signed: ``|A| ≤ 127·2^18 + 128 < 2^26``), so
``A·w = (x_high·w)·2^18 + x_low·w`` and a cascade of such products holds
``P = S_high·2^18 + S_low`` exactly. Lane split (:func:`split_lanes`): as long as
``|S_low| < 2^17``, ``S_low = sext(P[0:18])`` and ``S_high = (P − S_low) / 2^18`` — the sign
correction of the low lane: a negative low lane borrows one from the high lane, which the
subtraction returns exactly.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from sim.flightllm.design import DSP_A_BITS, DSP_B_BITS, DSP_P_BITS, LANE_SHIFT
from sim.formats.flightllm import A_BITS

TOKEN_PAIR = data.StructLayout({"low": signed(A_BITS), "high": signed(A_BITS)})
"""Two tokens' INT8 activations of one input channel: ``low`` (token 0), ``high`` (token 1)."""


def pack_pair(m: Module, pair, name: str) -> Signal:
    """The 27-bit A operand ``high·2^18 + low`` of a :data:`TOKEN_PAIR`."""
    a = Signal(signed(DSP_A_BITS), name=name)
    m.d.comb += a.eq((pair.high << LANE_SHIFT) + pair.low)
    return a


def low_lane(m: Module, p, name: str) -> Signal:
    """``sext(p[0:18])``: the low token's lane of ``p`` (exact while ``|S_low| < 2^17``)."""
    low = Signal(signed(LANE_SHIFT), name=name)
    m.d.comb += low.eq(p[:LANE_SHIFT])
    return low


def split_lanes(m: Module, p, name: str) -> tuple[Signal, Signal]:
    """(low, high) lanes of a packed sum ``p``: ``low = sext(p[0:18])``,
    ``high = (p − low) >> 18`` (exact, see the module docstring)."""
    low = low_lane(m, p, f"{name}_low")
    high = Signal(signed(DSP_P_BITS - LANE_SHIFT), name=f"{name}_high")
    m.d.comb += high.eq((p - low) >> LANE_SHIFT)
    return low, high


class Dsp48e2Slice(wiring.Component):
    """One DSP48E2 slice: ``P ← A·B + Z`` each cycle, ``Z`` = PCIN or 0 (the Z-MUX).

    - ``a``: 27-bit signed A operand (a packed token pair, :func:`pack_pair`);
    - ``b``: 18-bit signed B operand (the weight code, sign-extended);
    - ``pcin``: 48-bit cascade input (the previous slice's PCOUT);
    - ``zero``: the Z-MUX selects 0 instead of ``pcin`` (a segment starts here);
    - ``p``: the 48-bit P register (PCOUT), one cycle after its operands.
    """

    a: In(signed(DSP_A_BITS))
    b: In(signed(DSP_B_BITS))
    pcin: In(signed(DSP_P_BITS))
    zero: In(1)
    p: Out(signed(DSP_P_BITS))

    def elaborate(self, platform):
        m = Module()
        product = Signal(signed(DSP_A_BITS + DSP_B_BITS))
        m.d.comb += product.eq(self.a * self.b)
        m.d.sync += self.p.eq(product + Mux(self.zero, 0, self.pcin))
        return m
