"""cocotb bench of :class:`hw.olive.decoder.OvpDecoder` (combinational).

Inputs: ``code`` (one OVP pair of codes per vector), ``normal``. Output: ``value``, the packed
decoded pair as the port presents it (unpacked on the host).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import Timer

from hw.cocotb_bench import bench_inputs, save_bench_outputs


@cocotb.test()
async def decoder_sweep(dut):
    v = bench_inputs()
    code, normal = v["code"], v["normal"]
    values = np.zeros(len(code), dtype=np.int64)
    for t in range(len(code)):
        dut.code.value = int(code[t])
        dut.normal.value = int(normal[t])
        await Timer(1, unit="ns")
        values[t] = dut.value.value.to_unsigned()
    save_bench_outputs({"value": values}, {"cycles": 0})
