"""cocotb bench of :class:`hw.olive.pe.OvpPe`: one operand pair per cycle, latency 1.

Inputs: ``a``, ``b`` (packed decoded pairs), ``valid``, ``clear`` — one entry per cycle.
Output: ``acc`` ``[n]``, the running sum after each cycle.
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, save_bench_outputs, stream


@cocotb.test()
async def pe_stream(dut):
    v = bench_inputs()
    out = await stream(dut, {port: v[port] for port in ("a", "b", "valid", "clear")},
                       {"acc": True}, latency=1)
    save_bench_outputs(out)
