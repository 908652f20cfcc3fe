"""cocotb benches of the FlightLLM CSD chain on Verilator: bit-exact and cycle-exact (slow).

Four Verilator builds (each cached by content hash): the dequantizing chain of 16 slices, the
group-sum chains of 16 and 8 slices (8: built without OAU by the bypass rule) and the group-sum
chain of 16 built without its OAU, which must fail exactly where a low lane overflows.
"""

import numpy as np
import pytest

from hw.cocotb_bench import run_bench
from hw.registry import elaborate, get_unit, resolve_params
from hw.verify import verify
from sim.flightllm.design import keep_choices
from sim.flightllm.tile import csd_chain_run_cycles

pytestmark = pytest.mark.slow


def _runs_per_config(unit, params, count: int) -> dict[tuple[int, int], int]:
    v = unit.vectors(params, count, 0)
    pairs = list(zip(v["keep"].tolist(), v["bits"].tolist(), strict=True))
    return {pair: pairs.count(pair) for pair in set(pairs)}


def test_chain_bench_is_bit_exact_and_cycle_exact():
    """flightllm-chain, 16 slices, its default 1600 runs over every (N, width) ≥ 200 each:
    FP32 bits equal the golden GEMM's, every run takes 256/16 + 16 + 2 cycles."""
    unit = get_unit("flightllm-chain")
    params = resolve_params(unit, options={"length": "16"})
    assert unit.default_vectors == 1600
    per = _runs_per_config(unit, params, 1600)
    assert set(per) == {(n, b) for n in (2, 4, 8, 16) for b in (4, 8)}
    assert min(per.values()) >= 200, per
    result = verify(unit, params)
    assert result.vectors == sum(per.values()) >= 1600
    assert result.mismatches == 0, result.examples
    assert result.cycles_measured == result.cycles_predicted == csd_chain_run_cycles(16, 256)
    assert result.cycles_predicted == 256 // 16 + 16 + 2
    assert result.cycle_mismatches == 0


@pytest.mark.parametrize("length", [16, 8])
def test_psum_bench_is_exact(length):
    """flightllm-chain-psum, 1600 runs: exact group sums and k/16 + L cycles; the chain of 8
    (built without OAU) runs N ∈ {2, 4, 8}."""
    unit = get_unit("flightllm-chain-psum")
    params = resolve_params(unit, options={"length": str(length)})
    per = _runs_per_config(unit, params, 1600)
    assert {n for n, _ in per} == set(keep_choices(length)) == ({2, 4, 8, 16} if length == 16 else {2, 4, 8})
    assert min(per.values()) >= 200, per
    assert elaborate(unit, params).top == f"flightllm_csd_chain_l{length}_psum"
    result = verify(unit, params)
    assert result.vectors >= 1600
    assert result.mismatches == 0, result.examples
    assert result.cycles_measured == result.cycles_predicted == 128 // 16 + length
    assert result.cycle_mismatches == 0


def _low_lane_carries(v) -> np.ndarray:
    """Per run (one row of N = 16, one group): Σ over blocks of the borrow/carry an 18-bit low
    lane loses when a block's low-token sum S leaves [−2^17, 2^17): (S − wrap18(S)) / 2^18."""
    blocks = v["w"].shape[2]
    x = v["x"][:, 0].reshape(len(v["x"]), blocks, 16)        # the low token, per block
    sel = np.take_along_axis(x, v["index"].transpose(0, 2, 1), axis=2)  # [run, block, slice]
    s = (sel * v["w"].transpose(0, 2, 1)).sum(2)
    wrapped = ((s + 2 ** 17) & (2 ** 18 - 1)) - 2 ** 17
    return ((s - wrapped) // 2 ** 18).sum(1)


def test_chain_without_oau_fails_exactly_where_the_low_lane_overflows():
    """The group-sum chain of 16 built without its OAU: at N = 16 INT8 the runs whose low lane
    overflows (the adversarial ones, carries not cancelling) mismatch — exactly those; on the
    same build N = 8 INT8 and N = 16 INT4 runs are exact (segments within the lane's capacity)."""
    unit = get_unit("flightllm-chain-psum")
    options = {"length": "16", "overflow_adjust": "false"}
    wide = resolve_params(unit, options=options | {"keep": "16", "weight_bits": "8"})
    assert elaborate(unit, wide).top == "flightllm_csd_chain_l16_psum_no_oau"
    v = unit.vectors(wide, 400, 0)
    overflowing = np.flatnonzero(_low_lane_carries(v) != 0)
    assert overflowing.size >= 40
    run = run_bench(elaborate(unit, wide), unit.bench.module, unit.bench.drive(wide, v))
    wrong = np.flatnonzero((unit.bench.read(wide, run.outputs) != unit.golden(wide, v)).any(1))
    assert wrong.tolist() == overflowing.tolist()  # exactly the runs whose low lane overflows
    for keep, bits in ((8, 8), (16, 4)):
        params = resolve_params(unit, options=options | {"keep": str(keep), "weight_bits": str(bits)})
        assert elaborate(unit, params).sha256 == elaborate(unit, wide).sha256  # the same build
        result = verify(unit, params, 400)
        assert result.vectors >= 400
        assert result.mismatches == 0, (keep, bits, result.examples)
