"""cocotb benches of the floating-point units on Verilator: bit-exact against the golden model
(slow).

Each case builds (or reuses from the cache) one Verilator model and runs the unit's full default
vector set (:mod:`hw.fp.vectors`, adversarial first): 100,000 pairs for the adder and the
multiplier; 65,536 integers for the conversion — every one of them up to 16 bits; every FP16
pattern for the widening.
"""

from __future__ import annotations

import pytest

from hw.registry import get_unit, resolve_params
from hw.verify import verify

pytestmark = pytest.mark.slow

CASES = [("fp-add", {"format": "fp32"}), ("fp-add", {"format": "fp16"}),
         ("fp-mul", {"format": "fp32"}), ("fp-mul", {"format": "fp16"}),
         ("fp-from-int", {"format": "fp32", "int_bits": "32"}),
         ("fp-from-int", {"format": "fp16", "int_bits": "32"}),
         ("fp-from-int", {"format": "fp16", "int_bits": "16"}),
         ("fp-from-int", {"format": "fp16", "int_bits": "4"}),
         ("fp-widen", {"src": "fp16", "dst": "fp32"})]


@pytest.mark.parametrize(("name", "options"), CASES,
                         ids=[f"{n}-{'-'.join(o.values())}" for n, o in CASES])
def test_bench_matches_golden_model(name, options):
    unit = get_unit(name)
    result = verify(unit, resolve_params(unit, options=options))
    assert result.vectors >= unit.default_vectors >= 20_000
    assert result.mismatches == 0, result.examples


@pytest.mark.parametrize("name", ["fp-add", "fp-mul"])
def test_another_seed_is_bit_exact_too(name):
    """A second, independent draw of the random vectors (the adversarial set is seeded too)."""
    unit = get_unit(name)
    result = verify(unit, resolve_params(unit, options={"format": "fp16"}), 50_000, seed=1)
    assert result.mismatches == 0, result.examples
