"""cocotb bench of :class:`hw.mixpe.array.MixPeArray`: whole tiles, one at a time.

Inputs ``[tiles, k, lanes]``: ``x`` (``x_bits`` wide: INT8 or FP16 bits per row), ``q``,
``zero`` and ``scale`` per column (the group's zero point and FP16 scale on every element of the
group), and for W4A8 ``token_scale`` (FP32 bits per row, the same on every element). Outputs:
``result`` ``[tiles, cols·rows]`` (FP32 bits, the ``result_<j>`` ports one after another) and
``cycles`` per tile (:func:`hw.drivers.tiles`).
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, save_bench_outputs, tiles

WIDTHS = {"q": 4, "zero": 4, "scale": 16, "token_scale": 32}


@cocotb.test()
async def array_tiles(dut):
    v = bench_inputs()
    beats = {"x": (v["x"], int(v["x_bits"]))}
    beats |= {port: (v[port], bits) for port, bits in WIDTHS.items() if port in v}
    ports = tuple(f"result_{j}" for j in range(v["q"].shape[2]))
    result, cycles = await tiles(dut, beats=beats, per_tile={}, result=ports, result_bits=32)
    save_bench_outputs({"result": result, "cycles": cycles})
