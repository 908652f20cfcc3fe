"""cocotb bench of :class:`hw.fp.convert.FloatWiden` (combinational).

Input: ``a`` (source bit patterns). Output: ``result`` (destination bit patterns).
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, combinational, save_bench_outputs


@cocotb.test()
async def widen_sweep(dut):
    v = bench_inputs()
    out = await combinational(dut, {"a": v["a"]}, {"result": False})
    save_bench_outputs(out)
