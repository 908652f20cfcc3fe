"""``CsdChainDequant``: one output row's FP32 output stage, after its reduction node, in the
golden order of :mod:`sim.formats.flightllm` for each of the two tokens:
``acc = +0``; per group ``acc ← acc + s·float32(P)``; after the run's last group
``y ← acc·a`` (the per-token activation scale) — every operation FP32, rounded to nearest even,
no fused multiply-add. ``float32(P)`` is exact (|P| < 2^22).

One FP32 multiplier per token serves both products: ``s·float32(P)`` on the cycle after a group
completes, ``acc·a`` on the cycle after the run's last group (the next group cannot complete
sooner than 8 cycles later).
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.fp.adder import FloatAdder
from hw.fp.convert import IntToFloat
from hw.fp.format import FP32
from hw.fp.multiplier import FloatMultiplier
from sim.flightllm.design import GROUP_SUM_BITS, TOKENS

FP32_PAIR = data.ArrayLayout(FP32.width, TOKENS)
SUM_PAIR = data.ArrayLayout(signed(GROUP_SUM_BITS), TOKENS)


class CsdChainDequant(wiring.Component):
    """One row's output stage (see the module docstring).

    - ``sum``: the two tokens' group sums P; ``ready``: they hold a complete group (one cycle);
    - ``first`` / ``last``: that group is the run's first / last (with ``ready``);
    - ``scale``: the group's FP32 weight scale s (with ``ready``);
    - ``token_scale``: the two tokens' FP32 activation scales a (held for the run);
    - ``result``: the two outputs y (FP32 bits), held until the next run's end;
    - ``done``: pulses the cycle ``result`` has been written.
    """

    sum: In(SUM_PAIR)
    ready: In(1)
    first: In(1)
    last: In(1)
    scale: In(FP32.width)
    token_scale: In(FP32_PAIR)
    result: Out(FP32_PAIR)
    done: Out(1)

    def elaborate(self, platform):
        m = Module()
        finish = Signal()  # the cycle after the run's last group: y ← acc·a
        m.d.sync += [finish.eq(self.ready & self.last), self.done.eq(finish)]
        for t in range(TOKENS):
            to_float = m.submodules[f"to_float_{t}"] = IntToFloat(GROUP_SUM_BITS, FP32)
            multiply = m.submodules[f"multiply_{t}"] = FloatMultiplier(FP32)
            accumulate = m.submodules[f"accumulate_{t}"] = FloatAdder(FP32)
            acc = Signal(FP32.width, name=f"acc_{t}")
            m.d.comb += [to_float.value.eq(self.sum[t]),
                         multiply.a.eq(Mux(finish, acc, self.scale)),
                         multiply.b.eq(Mux(finish, self.token_scale[t], to_float.result)),
                         accumulate.a.eq(Mux(self.first, 0, acc)),
                         accumulate.b.eq(multiply.product)]
            with m.If(self.ready):
                m.d.sync += acc.eq(accumulate.sum)
            with m.If(finish):
                m.d.sync += self.result[t].eq(multiply.product)
        return m
