"""cocotb bench of :class:`hw.flightllm.chain.CsdChain`: whole runs, one at a time.

Inputs ``[runs, blocks, lanes]``: ``x`` (the block's 16 token pairs as 32 INT8 lanes),
``w`` (one weight byte per slice), ``index`` (4 bits per slice) and, for the dequantizing
chain, ``scale`` (per row, FP32 bits of the block's group scale) and ``token_scale`` (the two
tokens' FP32 bits); per run ``keep`` (the N code) and ``int4``; ``result_bits`` (32: FP32
outputs, else the group sums' width). Outputs: ``result`` ``[runs, rows·2]`` and ``cycles``.
"""

import cocotb

from hw.drivers import bench_inputs, save_bench_outputs, tiles

WIDTHS = {"x": 8, "w": 8, "index": 4, "scale": 32, "token_scale": 32}


@cocotb.test()
async def chain_runs(dut):
    v = bench_inputs()
    beats = {port: (v[port], bits) for port, bits in WIDTHS.items() if port in v}
    result, cycles = await tiles(dut, beats=beats, per_tile={"keep": v["keep"], "int4": v["int4"]},
                                 result="result", result_bits=int(v["result_bits"]))
    save_bench_outputs({"result": result, "cycles": cycles})
