"""``SparseMux``: in front of a DSP48 slice, select the activations of the kept weight's input
channel out of its block of 16 by the stored 4-bit index (papers/flightllm.md), so only kept
weights enter the DSPs."""

from amaranth import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.flightllm.dsp import TOKEN_PAIR
from sim.formats.flightllm import BLOCK, INDEX_BITS


class SparseMux(wiring.Component):
    """Combinational 1-of-16 select of a token pair.

    - ``block``: the 16 input channels' token pairs of the current block;
    - ``index``: the kept weight's position in the block (0..15);
    - ``selected``: ``block[index]``.
    """

    block: In(data.ArrayLayout(TOKEN_PAIR, BLOCK))
    index: In(INDEX_BITS)
    selected: Out(TOKEN_PAIR)

    def elaborate(self, platform):
        m = Module()
        with m.Switch(self.index):
            for position in range(BLOCK):
                with m.Case(position):
                    m.d.comb += self.selected.eq(self.block[position])
        return m
