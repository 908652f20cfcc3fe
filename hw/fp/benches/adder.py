"""cocotb bench of :class:`hw.fp.adder.FloatAdder` (combinational).

Inputs: ``a``, ``b`` (bit patterns, one pair per vector). Output: ``sum`` (bit patterns).
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, combinational, save_bench_outputs


@cocotb.test()
async def adder_sweep(dut):
    v = bench_inputs()
    out = await combinational(dut, {"a": v["a"], "b": v["b"]}, {"sum": False})
    save_bench_outputs(out)
