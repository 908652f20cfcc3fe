"""cocotb benches of the OliVe designs on Verilator: bit-exact and cycle-exact (slow).

Each case builds (or reuses from the cache) one Verilator model and runs the full default
vector set: ≥ 20,000 pairs for the encoder and decoder, 20,000 cycles for the PE, 200 tiles
for the array — real SmolLM2-135M tensors, random and adversarial vectors.
"""

from __future__ import annotations

import pytest

from hw.olive.designs import resolve_params
from hw.olive.verify import DEFAULT_VECTORS, verify

pytestmark = pytest.mark.slow

CASES = [("olive-encoder", 4), ("olive-encoder", 8), ("olive-decoder", 4), ("olive-decoder", 8),
         ("olive-pe", 4), ("olive-pe", 8), ("olive-array", 4), ("olive-array", 8)]


@pytest.mark.parametrize(("design", "bits"), CASES, ids=[f"{d}-{b}" for d, b in CASES])
def test_bench_matches_golden_model(design, bits):
    result = verify(design, resolve_params(design, bits=bits))
    assert result.vectors >= DEFAULT_VECTORS[design]
    assert result.mismatches == 0, result.examples
    if design == "olive-array":
        assert result.cycles_measured == result.cycles_predicted
        assert result.cycle_mismatches == 0
