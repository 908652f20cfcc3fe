"""MixPE RTL against the golden model on the Amaranth simulator (fast), and its unit registry."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from hw.mixpe.array import MixPeArray
from hw.mixpe.pe import ShiftAddPeW4A8, ShiftAddPeW4A16
from hw.mixpe.units import tile_operands
from hw.mixpe.vectors import array_tiles, pe_vectors
from hw.registry import get_unit, resolve_params
from sim.formats.mixpe import gemm_w4a8, gemm_w4a16
from sim.mixpe.tile import mixpe_array_tile_cycles


@pytest.mark.parametrize("fp16", [False, True], ids=["w4a8", "w4a16"])
def test_pe_running_sums_match_golden(fp16, run_sim):
    """400 cycles of real, random and adversarial operands, sums restarted by ``first``."""
    unit = get_unit("mixpe-pe-w4a16" if fp16 else "mixpe-pe-w4a8")
    params = resolve_params(unit, options={"group": "16"})
    v = pe_vectors(fp16, params.group, 400, seed=3)
    want = unit.golden(params, v)
    drive = unit.bench.drive(params, v)
    dut = ShiftAddPeW4A16() if fp16 else ShiftAddPeW4A8()
    got = []

    async def tb(ctx):
        for t in range(len(want)):
            for port in ("x", "q", "valid", "first", "last"):
                ctx.set(getattr(dut, port), int(drive[port][t]))
            await ctx.tick()
            got.append(ctx.get(dut.p))

    run_sim(dut, tb)
    got = np.array(got, np.int64) & (0xFFFFFFFF if fp16 else -1)
    assert (got == want).all(), np.flatnonzero(got != want)[:5]


def test_pe_w4a8_products_are_shift_and_add_of_codes(run_sim):
    """Extremes by hand: 15·127 + 15·(−127) + 0·127 = 0, then 15·(−128) = −1920."""
    dut = ShiftAddPeW4A8()
    seq = [(127, 15, 1, 0), (-127, 15, 0, 0), (127, 0, 0, 1), (-128, 15, 1, 1)]
    seen = []

    async def tb(ctx):
        for x, q, first, last in seq:
            for port, value in zip(("x", "q", "first", "last", "valid"), (x, q, first, last, 1),
                                   strict=True):
                ctx.set(getattr(dut, port), value)
            await ctx.tick()
            seen.append((ctx.get(dut.p), ctx.get(dut.done)))

    run_sim(dut, tb)
    assert seen == [(1905, 0), (0, 0), (0, 1), (-1920, 1)]


SHAPES = [(3, 4, 4, 12), (1, 5, 4, 4), (4, 1, 4, 8), (4, 4, 4, 4)]
"""(rows, cols, group, k): a general tile, one row with K = one group, rows = group with one
column, and rows = group = K."""


@pytest.mark.parametrize("rows, cols, group, k", SHAPES)
@pytest.mark.parametrize("bits", [8, 16])
def test_small_array_tiles_match_golden_gemm_and_cycle_formula(bits, rows, cols, group, k, run_sim):
    """Every output's FP32 bits equal the golden GEMM's and every tile takes the formula's
    cycles (each of the four vector kinds). Zero points, scales and token scales are garbage
    except where the protocol samples them (a group's last element, the tile's last)."""
    unit = get_unit("mixpe-array")
    params = resolve_params(unit, options={
        "rows": str(rows), "cols": str(cols), "group": str(group), "k": str(k), "bits": str(bits),
        "partial_sum_bits": "14", "group_sum_bits": "10"} | ({} if bits == 8 else {
            "partial_sum_bits": "19", "group_sum_bits": "15"}))
    v = array_tiles(rows, cols, k, group, bits == 16, 4, seed=1)
    want = unit.golden(params, v)
    drive = unit.bench.drive(params, v)
    dut = unit.build(params)
    widths = {"x": bits, "q": 4, "zero": 4, "scale": 16, "token_scale": 32}
    sampled = {"zero": lambda beat: beat % group == group - 1, "scale": lambda beat: beat % group == group - 1,
               "token_scale": lambda beat: beat == k - 1}
    rng = np.random.default_rng(7)

    async def tb(ctx):
        for t in range(len(want)):
            for beat in range(k):
                for port, bits_ in widths.items():
                    if port in drive:
                        for lane, value in enumerate(drive[port][t, beat]):
                            keep = sampled.get(port, lambda _: True)(beat)
                            value = int(value) if keep else int(rng.integers(0, 1 << bits_))
                            ctx.set(getattr(dut, port)[lane], value & ((1 << bits_) - 1))
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, beat == 0)
                ctx.set(dut.last, beat == k - 1)
                await ctx.tick()
            ctx.set(dut.valid, 0)
            if "token_scale" in drive:
                for lane in range(rows):
                    ctx.set(dut.token_scale[lane], int(rng.integers(0, 1 << 32)))
            cycles = k
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            got = np.array([[ctx.get(getattr(dut, f"result_{j}")[i]) for j in range(cols)]
                            for i in range(rows)], np.int64).reshape(-1)
            assert (got == want[t]).all(), (t, got, want[t])
            assert cycles == mixpe_array_tile_cycles(rows, cols, k) == k + rows + cols

    run_sim(dut, tb)


def test_golden_array_operands_are_the_formats_gemm():
    """The bench's golden is :mod:`sim.formats.mixpe`'s GEMM on the tile, not a re-derivation."""
    unit = get_unit("mixpe-array")
    for bits, gemm in ((8, gemm_w4a8), (16, gemm_w4a16)):
        params = resolve_params(unit, options={"bits": str(bits), "rows": "2", "cols": "3"})
        v = array_tiles(2, 3, params.k, params.group, bits == 16, 2, seed=5)
        got = unit.golden(params, v)
        direct = gemm(*tile_operands(params, v, 1)).view(np.uint32).reshape(-1)
        assert (got[1] == direct).all()


def test_array_refuses_a_group_shorter_than_its_rows():
    with pytest.raises(ValueError, match="group must last at least rows = 8"):
        MixPeArray(8, 8, group=4)


@pytest.mark.parametrize("options, message", [
    ({"bits": "4"}, "bits must be 8 (W4A8) or 16 (W4A16)"),
    ({"rows": "200", "group": "256", "k": "256", "bits": "16"}, "at most 128 per side"),
    ({"rows": "16", "group": "8", "k": "8"}, "a group must last at least rows = 16"),
    ({"k": "100"}, "positive multiple of group 128"),
    ({"partial_sum_bits": "18"}, "partial_sum_bits = 18 cannot hold the sums of a group of 128 (need 19)"),
    ({"group_sum_bits": "14"}, "group_sum_bits = 14 cannot hold"),
    ({"bits": "16", "partial_sum_bits": "3"}, "the W4A16 build keeps its sums in FP32"),
])
def test_array_parameters_are_checked(options, message):
    with pytest.raises(UserError) as err:
        resolve_params(get_unit("mixpe-array"), options=options)
    assert message in str(err.value)


def test_units_are_sized_by_mixpe_targets_only():
    unit = get_unit("mixpe-array")
    w4a8 = resolve_params(unit, "mixpe-w4a8")
    assert (w4a8.rows, w4a8.cols, w4a8.bits, w4a8.partial_sum_bits, w4a8.group_sum_bits) == (64, 64, 8, 19, 15)
    w4a16 = resolve_params(unit, "mixpe-w4a16")
    assert (w4a16.rows, w4a16.cols, w4a16.bits) == (32, 32, 16)
    assert resolve_params(get_unit("mixpe-pe-w4a8"), "mixpe-w4a8").partial_sum_bits == 19
    with pytest.raises(UserError, match="sized by a mixpe target"):
        resolve_params(unit, "olive-systolic")


@pytest.mark.slow
@pytest.mark.parametrize("bits", [8, 16])
def test_array_verilog_is_lint_clean(bits):
    from hw.registry import elaborate
    from hw.verilator import lint

    unit = get_unit("mixpe-array")
    assert lint(elaborate(unit, resolve_params(unit, options={"bits": str(bits), "rows": "4",
                                                              "cols": "4"}))) == []


def test_tiles_wider_than_every_real_layer_are_random():
    v = array_tiles(2, 2, 2048, 128, False, 2, seed=0)
    assert v["x"].shape == (2, 2, 2048) and v["zero"].shape == (2, 2, 16)
