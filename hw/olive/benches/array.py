"""cocotb bench of :class:`hw.olive.array.OvpSystolicArray`: whole tiles, one at a time.

Inputs: ``a_word`` ``[tiles, pairs, words]`` and ``w_word`` the pair words of each operand row
(column), ``word_bits`` apart on the code port (8 in 4-bit mode, 16 in 8-bit mode, where one
pair spans two array rows), ``a_normal`` / ``w_normal`` per tile and ``mode8``.
Outputs: ``result`` ``[tiles, rows·cols]`` (each PE's 32-bit result word, unsigned) and
``cycles`` per tile: rising edges from the one that samples the tile's first pair to the one
after which ``done`` is high, inclusive.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.cocotb_bench import bench_inputs, save_bench_outputs, start_clock
from hw.olive.array import WORD

TIMEOUT_CYCLES = 100_000


def _pack(codes, width: int) -> int:
    word = 0
    for index, code in enumerate(codes):
        word |= int(code) << (width * index)
    return word


@cocotb.test()
async def array_tiles(dut):
    v = bench_inputs()
    a, w = v["a_word"], v["w_word"]
    word_bits = int(v["word_bits"])
    tiles, pairs = a.shape[:2]
    fields = len(dut.result.value) // WORD
    results = np.zeros((tiles, fields), dtype=np.int64)
    cycles = np.zeros(tiles, dtype=np.int64)
    dut.mode8.value = int(v["mode8"])
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
            dut.a_code.value = _pack(a[tile, p], word_bits)
            dut.w_code.value = _pack(w[tile, p], word_bits)
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
        for x in range(fields):
            results[tile, x] = (word >> (WORD * x)) & ((1 << WORD) - 1)
    save_bench_outputs({"result": results, "cycles": cycles}, {"tiles": tiles})
