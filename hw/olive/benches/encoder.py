"""cocotb bench of :class:`hw.olive.encoder.OvpEncoder` (latency 1 cycle).

Inputs: ``q_word`` (uint64: even value in the low 32 bits, two's complement), ``normal``.
Output: ``code`` per pair. Inputs change on the falling edge; the code of the pair sampled at
a rising edge is read at the next falling edge.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.cocotb_bench import bench_inputs, save_bench_outputs, start_clock


@cocotb.test()
async def encoder_stream(dut):
    v = bench_inputs()
    words, normal = v["q_word"], v["normal"]
    n = len(words)
    codes = np.zeros(n, dtype=np.int64)
    await start_clock(dut)
    dut.valid.value = 1
    for t in range(n + 1):
        await FallingEdge(dut.clk)
        if t:
            codes[t - 1] = dut.code.value.to_unsigned()
        if t < n:
            dut.q.value = int(words[t])
            dut.normal.value = int(normal[t])
    save_bench_outputs({"code": codes}, {"cycles": n + 1})
