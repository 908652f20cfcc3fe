"""cocotb bench of the stand-alone MixPE PEs (:mod:`hw.mixpe.pe`, :mod:`hw.mixpe.baselines`):
one element per cycle, latency 1.

Inputs: the PE's operand ports (``x`` first, then ``q`` / ``w`` / ``zero`` as the PE has them,
each as unsigned port values) and ``valid``, ``first``, ``last`` — one entry per cycle — and
``signed`` (read ``p`` as signed: integer sums). Output: ``p`` ``[n]``, the sum after each cycle.
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, save_bench_outputs, stream


@cocotb.test()
async def pe_stream(dut):
    v = bench_inputs()
    signed = bool(v.pop("signed"))
    out = await stream(dut, v, {"p": signed}, latency=1)
    save_bench_outputs(out)
