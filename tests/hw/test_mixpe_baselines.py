"""The baseline PEs of the MixPE area comparison (:mod:`hw.mixpe.baselines`): against their
golden running sums on the Amaranth simulator (fast) and on Verilator (slow), their Verilog
lint, and the ``synth`` peer table of the shift-and-add PEs."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from core.errors import UserError
from hw.mixpe.baselines import DequantInt4Int8Pe, Fp16MacPe, Int8MacPe
from hw.registry import elaborate, get_unit, resolve_params
from hw.synth import size_report
from hw.verify import verify
from hw.verilator import lint

BASELINES = ["mixpe-baseline-int8-mac", "mixpe-baseline-dequant-w4a8", "mixpe-baseline-fp16-mac"]
MIXPE_PES = ["mixpe-pe-w4a8", "mixpe-pe-w4a16", *BASELINES]


def _run(dut, cycles: list[dict]) -> list[tuple[int, int]]:
    """Present each cycle's port values, tick, and read ``(p, done)`` (the sum through it)."""
    seen = []

    async def tb(ctx):
        for values in cycles:
            for port, value in values.items():
                ctx.set(getattr(dut, port), int(value))
            await ctx.tick()
            seen.append((ctx.get(dut.p), ctx.get(dut.done)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return seen


@pytest.mark.parametrize("name", BASELINES)
def test_running_sums_match_golden(name):
    """400 cycles of real, random and adversarial operands in groups of 16, restarted by ``first``."""
    unit = get_unit(name)
    params = resolve_params(unit, options={"group": "16"})
    v = unit.vectors(params, 400, 3)
    want = unit.golden(params, v)
    drive = unit.bench.drive(params, v)
    ports = [port for port in drive if port != "signed"]
    got = _run(unit.build(params), [{port: drive[port][t] for port in ports} for t in range(len(want))])
    sums = np.array([p for p, _ in got], np.int64)
    if not drive["signed"]:
        sums &= 0xFFFFFFFF
    assert (sums == want).all(), np.flatnonzero(sums != want)[:5]


def _beat(first: int, last: int, **operands) -> dict:
    return {**operands, "valid": 1, "first": first, "last": last}


def test_int8_mac_products_and_wrapping():
    """(−128)² = 2^14; + 127·(−128) = 128; sixteen more (−128)² reach 2^18 + 128, which the
    19-bit sum wraps to −2^18 + 128."""
    seq = [_beat(1, 0, x=-128, w=-128), _beat(0, 0, x=127, w=-128)]
    seq += [_beat(0, t == 15, x=-128, w=-128) for t in range(16)]
    seen = _run(Int8MacPe(19), seq)
    assert seen[:2] == [(16384, 0), (128, 0)]
    assert seen[-1] == (128 - (1 << 18), 1)


def test_dequant_pe_forms_q_minus_z_per_element():
    """w = q − z: (0 − 15)·(−128) = 1920, + (15 − 15)·127 = 1920, + (3 − 15)·5 = 1860; a new
    group with z = 0: 15·127 = 1905."""
    seq = [_beat(1, 0, x=-128, q=0, zero=15), _beat(0, 0, x=127, q=15, zero=15),
           _beat(0, 1, x=5, q=3, zero=15), _beat(1, 1, x=127, q=15, zero=0)]
    assert _run(DequantInt4Int8Pe(19), seq) == [(1920, 0), (1920, 0), (1860, 1), (1905, 1)]


def test_dequant_group_sums_are_the_mixpe_algebra():
    """Per group (zero point held), Σ (q − z)·x = P − z·S: the dequant PE's sum at each group's
    last element equals the W4A8 PE's P minus z times the group's Σ x (same vectors)."""
    dequant, w4a8 = get_unit("mixpe-baseline-dequant-w4a8"), get_unit("mixpe-pe-w4a8")
    params = resolve_params(dequant)
    v = dequant.vectors(params, 3000, 1)
    d, p = dequant.golden(params, v), w4a8.golden(params, v)
    start = None
    for t in np.flatnonzero(v["valid"]):
        start = t if v["first"][t] else start
        if v["last"][t]:
            group = slice(start, t + 1)
            s = int((v["x"][group] * v["valid"][group]).sum())
            assert d[t] == p[t] - v["zero"][t] * s, t


def test_fp16_mac_products_are_exact_in_fp32():
    """65504² = 4 290 774 016 and (2^−24)² = 2^−48 are exact FP32 products; −0 · 1 restarts a
    group with +0 + −0 = +0."""
    as_bits = lambda f: int(np.float32(f).view(np.uint32))  # noqa: E731
    seq = [_beat(1, 1, x=0x7BFF, w=0x7BFF), _beat(1, 1, x=0x0001, w=0x0001),
           _beat(1, 1, x=0x8000, w=0x3C00)]
    got = [p for p, _ in _run(Fp16MacPe(), seq)]
    assert got == [as_bits(65504.0 ** 2), as_bits(2.0 ** -48), 0]


def test_int8_mac_partial_sum_must_hold_a_product():
    with pytest.raises(UserError, match="cannot hold one INT8 × INT8 product"):
        resolve_params(get_unit("mixpe-baseline-int8-mac"), options={"group": "1",
                                                                    "partial_sum_bits": "15"})


@pytest.mark.parametrize("name", MIXPE_PES)
def test_generated_verilog_is_lint_clean_with_documented_waivers(name):
    unit = get_unit(name)
    assert lint(elaborate(unit, resolve_params(unit))) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", BASELINES)
def test_bench_matches_golden_model(name):
    unit = get_unit(name)
    result = verify(unit, resolve_params(unit))
    assert result.vectors >= 20_000
    assert result.mismatches == 0, result.examples


@pytest.mark.slow
def test_synth_compares_the_five_pes_with_the_paper(cli):
    """``synth`` of the W4A8 PE lists the five PEs, normalised to the FP16 × FP16 MAC, beside
    the paper's area-power efficiency products; its own row is its own size."""
    result = cli("synth", "mixpe-pe-w4a8", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    peers = doc["peers"]
    rows = peers["peers"]
    assert peers["normaliser"] == "FP16×FP16 MAC" and "area only" in peers["note"]
    assert [r["unit"] for r in rows.values()] == ["mixpe-baseline-fp16-mac", "mixpe-baseline-int8-mac",
                                                  "mixpe-baseline-dequant-w4a8", "mixpe-pe-w4a16",
                                                  "mixpe-pe-w4a8"]
    assert [r["published"] for r in rows.values()] == [1.0, 58.0, None, 4.8, 133.0]
    fp16 = rows["FP16×FP16 MAC"]["nand2_equivalents"]
    for row in rows.values():
        assert row["relative_area"] == round(row["nand2_equivalents"] / fp16, 4)
        assert row["area_efficiency"] == round(fp16 / row["nand2_equivalents"], 3)
    assert rows["MixPE INT4×INT8"]["nand2_equivalents"] == doc["nand2_equivalents"]
    # the shift-and-add PEs are smaller than the multiplier PEs of the same activation
    assert rows["MixPE INT4×INT8"]["relative_area"] < rows["INT4×INT8 dequant+MAC"]["relative_area"]
    assert rows["MixPE INT4×FP16"]["relative_area"] < 1
    text = cli("synth", "mixpe-pe-w4a8").stdout
    assert "area only" in text and "133" in text and "FP16×FP16 MAC" in text


def test_synth_refuses_a_peer_its_parameters_cannot_build():
    unit = get_unit("mixpe-pe-w4a8")
    with pytest.raises(UserError, match="area peer INT8×INT8 MAC .* cannot hold one INT8 × INT8"):
        size_report(unit, resolve_params(unit, options={"group": "1", "partial_sum_bits": "14"}))
