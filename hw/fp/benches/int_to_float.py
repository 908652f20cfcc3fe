"""cocotb bench of :class:`hw.fp.convert.IntToFloat` (combinational).

Input: ``value`` (the integers' two's-complement patterns, unsigned). Output: ``result`` (bit
patterns).
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, combinational, save_bench_outputs


@cocotb.test()
async def int_to_float_sweep(dut):
    v = bench_inputs()
    out = await combinational(dut, {"value": v["value"]}, {"result": False})
    save_bench_outputs(out)
