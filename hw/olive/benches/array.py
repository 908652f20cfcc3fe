"""cocotb bench of :class:`hw.olive.array.OvpSystolicArray`: whole tiles, one at a time.

Inputs: ``a_word`` ``[tiles, pairs, words]`` and ``w_word`` the pair words of each operand row
(column), ``word_bits`` apart on the code port (8 in 4-bit mode, 16 in 8-bit mode, where one
pair spans two array rows), ``a_normal`` / ``w_normal`` per tile, ``mode8`` and ``result_bits``
(the PE word). Outputs: ``result`` ``[tiles, rows·cols]`` (each PE's word, unsigned) and
``cycles`` per tile (:func:`hw.drivers.tiles`).
"""

from __future__ import annotations

import cocotb

from hw.drivers import bench_inputs, save_bench_outputs, tiles


@cocotb.test()
async def array_tiles(dut):
    v = bench_inputs()
    bits = int(v["word_bits"])
    result, cycles = await tiles(
        dut, beats={"a_code": (v["a_word"], bits), "w_code": (v["w_word"], bits)},
        per_tile={"a_normal": v["a_normal"], "w_normal": v["w_normal"]},
        result="result", result_bits=int(v["result_bits"]), hold={"mode8": int(v["mode8"])})
    save_bench_outputs({"result": result, "cycles": cycles})
