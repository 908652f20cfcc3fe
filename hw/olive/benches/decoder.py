"""cocotb bench of :class:`hw.olive.decoder.OvpDecoder` (combinational).

Inputs: ``code`` (one OVP pair of codes per vector), ``normal``. Output: ``value``, the packed
decoded pair as the port presents it (unpacked on the host).
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, combinational, save_bench_outputs


@cocotb.test()
async def decoder_sweep(dut):
    v = bench_inputs()
    out = await combinational(dut, {"code": v["code"], "normal": v["normal"]}, {"value": False})
    save_bench_outputs(out)
