"""cocotb benches of the OliVe units on Verilator: bit-exact and cycle-exact (slow).

Each case builds (or reuses from the cache) one Verilator model and runs the unit's full default
vector set: ≥ 20,000 pairs for the encoder and decoder, 20,000 cycles for the PE, 200 tiles
for the array — real SmolLM2-135M tensors, random and adversarial vectors.
"""

from __future__ import annotations

import pytest

from hw.registry import get_unit, resolve_params
from hw.verify import verify

pytestmark = pytest.mark.slow

CASES = [("olive-encoder", 4), ("olive-encoder", 8), ("olive-decoder", 4), ("olive-decoder", 8),
         ("olive-pe", 4), ("olive-pe", 8), ("olive-array", 4), ("olive-array", 8)]


@pytest.mark.parametrize("bits", [4, 8])
def test_array_with_a_wider_accumulator_word_is_bit_exact(bits):
    """A 4 × 6 array with 40-bit PE words (8-bit mode: 80-bit sums, compared on every bit) and
    tiles of K = 128 — one Verilog for both modes."""
    unit = get_unit("olive-array")
    params = resolve_params(unit, options={"rows": "4", "cols": "6", "accumulator_bits": "40",
                                           "k": "128", "bits": str(bits)})
    result = verify(unit, params, 40)
    assert result.mismatches == 0, result.examples
    assert result.cycles_measured == result.cycles_predicted == 64 + 4 + 6
    assert result.cycle_mismatches == 0


@pytest.mark.parametrize(("name", "bits"), CASES, ids=[f"{d}-{b}" for d, b in CASES])
def test_bench_matches_golden_model(name, bits):
    unit = get_unit(name)
    result = verify(unit, resolve_params(unit, options={"bits": str(bits)}))
    assert result.vectors >= unit.default_vectors
    assert result.mismatches == 0, result.examples
    if name == "olive-array":
        assert result.cycles_measured == result.cycles_predicted
        assert result.cycle_mismatches == 0
