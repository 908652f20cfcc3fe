"""cocotb bench of :class:`hw.olive.array.OvpSystolicArray`: whole tiles, one at a time.

Inputs: ``a`` ``[tiles, pairs, rows]`` and ``w`` ``[tiles, pairs, cols]`` pair codes,
``a_normal`` / ``w_normal`` per tile, ``code_bits`` (2·bits) and ``acc_width``.
Outputs: ``result`` ``[tiles, rows, cols]`` and ``cycles`` per tile: rising edges from the one
that samples the tile's first pair to the one after which ``done`` is high, inclusive.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.cocotb_bench import bench_inputs, save_bench_outputs, start_clock

TIMEOUT_CYCLES = 100_000


def _pack(codes, width: int) -> int:
    word = 0
    for index, code in enumerate(codes):
        word |= int(code) << (width * index)
    return word


@cocotb.test()
async def array_tiles(dut):
    v = bench_inputs()
    a, w = v["a"], v["w"]
    code_bits, acc_width = int(v["code_bits"]), int(v["acc_width"])
    tiles, pairs, rows = a.shape
    cols = w.shape[2]
    mask, top = (1 << acc_width) - 1, 1 << (acc_width - 1)
    results = np.zeros((tiles, rows, cols), dtype=np.int64)
    cycles = np.zeros(tiles, dtype=np.int64)
    await start_clock(dut)
    for tile in range(tiles):
        await FallingEdge(dut.clk)
        dut.a_normal.value = int(v["a_normal"][tile])
        dut.w_normal.value = int(v["w_normal"][tile])
        count = 0
        for p in range(pairs):
            if p:
                await FallingEdge(dut.clk)
                count += 1
            dut.a_code.value = _pack(a[tile, p], code_bits)
            dut.w_code.value = _pack(w[tile, p], code_bits)
            dut.valid.value = 1
            dut.first.value = int(p == 0)
            dut.last.value = int(p == pairs - 1)
        while True:
            await FallingEdge(dut.clk)
            count += 1
            dut.valid.value = dut.first.value = dut.last.value = 0
            if int(dut.done.value):
                break
            assert count < TIMEOUT_CYCLES, "array never signalled done"
        cycles[tile] = count
        word = dut.result.value.to_unsigned()
        for x in range(rows * cols):
            field = (word >> (acc_width * x)) & mask
            results[tile, x // cols, x % cols] = field - (1 << acc_width) if field >= top else field
    save_bench_outputs({"result": results, "cycles": cycles}, {"tiles": tiles})
