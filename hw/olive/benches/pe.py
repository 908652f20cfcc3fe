"""cocotb bench of :class:`hw.olive.pe.OvpPe` (latency 1 cycle).

Inputs: ``a``, ``b`` (packed decoded pairs), ``valid``, ``clear`` — one entry per cycle.
Output: ``acc`` after each cycle. Inputs change on the falling edge; the sum is read at the
next falling edge.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.cocotb_bench import bench_inputs, save_bench_outputs, start_clock


@cocotb.test()
async def pe_stream(dut):
    v = bench_inputs()
    n = len(v["a"])
    acc = np.zeros(n, dtype=np.int64)
    await start_clock(dut)
    for t in range(n + 1):
        await FallingEdge(dut.clk)
        if t:
            acc[t - 1] = dut.acc.value.to_signed()
        if t < n:
            dut.a.value = int(v["a"][t])
            dut.b.value = int(v["b"][t])
            dut.valid.value = int(v["valid"][t])
            dut.clear.value = int(v["clear"][t])
    save_bench_outputs({"acc": acc}, {"cycles": n + 1})
