"""cocotb benches of the MixPE units on Verilator: bit-exact and cycle-exact (slow).

Each case builds (or reuses from the cache) one Verilator model and runs the unit's full default
vector set: 24,000 cycles per PE, 200 tiles per array build (W4A8 8 × 8, W4A16 4 × 4) — real
SmolLM2-135M tensors, random and adversarial vectors; FP32 results compared as bit patterns.
"""

from __future__ import annotations

import pytest

from hw.registry import get_unit, resolve_params
from hw.verify import verify

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["mixpe-pe-w4a8", "mixpe-pe-w4a16"])
def test_pe_bench_matches_golden_model(name):
    unit = get_unit(name)
    result = verify(unit, resolve_params(unit))
    assert result.vectors >= 20_000
    assert result.mismatches == 0, result.examples


# The W4A16 build runs at 4 × 4: its FP32 adders and multipliers make the 8 × 8 Verilator build
# take ≈ 3.5 minutes cold; 4 × 4 exercises the same PEs, group sums, dequantizers and buses.
@pytest.mark.parametrize("bits, side", [(8, 8), (16, 4)])
def test_array_bench_is_bit_exact_and_cycle_exact(bits, side):
    unit = get_unit("mixpe-array")
    params = resolve_params(unit, options={"bits": str(bits), "rows": str(side), "cols": str(side)})
    result = verify(unit, params)
    assert result.vectors >= 200
    assert result.mismatches == 0, result.examples
    assert result.cycles_measured == result.cycles_predicted == params.k + params.rows + params.cols
    assert result.cycle_mismatches == 0
