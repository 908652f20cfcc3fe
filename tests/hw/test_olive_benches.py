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


@pytest.mark.parametrize(("name", "bits"), CASES, ids=[f"{d}-{b}" for d, b in CASES])
def test_bench_matches_golden_model(name, bits):
    unit = get_unit(name)
    result = verify(unit, resolve_params(unit, options={"bits": str(bits)}))
    assert result.vectors >= unit.default_vectors
    assert result.mismatches == 0, result.examples
    if name == "olive-array":
        assert result.cycles_measured == result.cycles_predicted
        assert result.cycle_mismatches == 0
