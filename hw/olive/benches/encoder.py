"""cocotb bench of :class:`hw.olive.encoder.OvpEncoder`: one pair per cycle, latency 1.

Inputs: ``q`` ``[n, 2]`` fixed-point pairs (even element first), ``normal`` ``[n]``.
Output: ``code`` ``[n]``, the pair of codes as the port presents it.
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, save_bench_outputs, stream
from hw.olive.encoder import INPUT_WIDTH


@cocotb.test()
async def encoder_stream(dut):
    v = bench_inputs()
    out = await stream(dut, {"q": (v["q"], INPUT_WIDTH), "normal": v["normal"]}, {"code": False},
                       hold={"valid": 1}, latency=1)
    save_bench_outputs(out)
