"""A unit's cocotb bench on Verilator against its golden function: bit for bit, cycle for cycle.

Expected values come only from the unit's golden function (:mod:`sim.formats`) and expected
cycles only from its cycle formula (the one its compute model uses); the comparison is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from hw.cocotb_bench import run_bench
from hw.registry import RtlUnit, UnitParams, Vectors, elaborate

EXAMPLES = 5
"""Mismatches described in a result."""


@dataclass
class VerifyResult:
    """Outcome of one bench run; ``cycles_*`` are per vector (units whose bench measures them)."""

    unit: str
    params: dict
    vectors: int
    mismatches: int
    cycles_measured: int | None = None
    cycles_predicted: int | None = None
    cycle_mismatches: int = 0
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    examples: list[str] = field(default_factory=list)
    waves: str | None = None

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and self.cycle_mismatches == 0

    def to_json(self) -> dict:
        return {"unit": self.unit, "params": self.params, "vectors": self.vectors,
                "mismatches": self.mismatches, "cycles_measured": self.cycles_measured,
                "cycles_predicted": self.cycles_predicted,
                "cycle_mismatches": self.cycle_mismatches,
                "build_seconds": round(self.build_seconds, 2),
                "run_seconds": round(self.run_seconds, 2), "examples": self.examples,
                "waves": self.waves}


def vector_count(unit: RtlUnit, vectors: int | None) -> int:
    """Vectors to run: ``vectors`` (at least 1) or the unit's default."""
    n = unit.default_vectors if vectors is None else vectors
    if n < 1:
        raise UserError(f"--vectors must be at least 1, got {n}")
    return n


def describe(unit: RtlUnit, vectors: Vectors, index: int, got: np.ndarray, want: np.ndarray) -> str:
    """One mismatch: a small vector's inputs and both outputs, else how many outputs differ."""
    if want[index].size > 8:
        bad = int((got[index] != want[index]).sum())
        return f"{unit.vector_noun} {index}: {bad} of {want[index].size} outputs differ"
    shown = " ".join(f"{k}={v[index].tolist()}" for k, v in vectors.items() if v[index].size <= 4)
    return (f"{unit.vector_noun} {index}: {shown} rtl={got[index].tolist()} "
            f"golden={want[index].tolist()}")


def verify(unit: RtlUnit, params: UnitParams, vectors: int | None = None, *,
           waves: Path | None = None, seed: int = 0) -> VerifyResult:
    """Run ``unit``'s bench on ``vectors`` of its vectors (default: its own count)."""
    v = unit.vectors(params, vector_count(unit, vectors), seed)
    want = unit.golden(params, v)
    run = run_bench(elaborate(unit, params), unit.bench.module, unit.bench.drive(params, v),
                    waves=waves)
    got = unit.bench.read(params, run.outputs)
    if got.shape != want.shape:
        raise RuntimeError(f"{unit.name}: the bench read {got.shape}, the golden model gave {want.shape}")
    bad = (got != want).reshape(len(want), -1).any(1)
    result = VerifyResult(unit.name, params.shown(), len(want), int(bad.sum()),
                          build_seconds=run.build_seconds, run_seconds=run.run_seconds,
                          examples=[describe(unit, v, int(i), got, want)
                                    for i in np.flatnonzero(bad)[:EXAMPLES]],
                          waves=str(waves) if waves else None)
    if unit.cycles is not None:
        cycles, predicted = run.outputs["cycles"], unit.cycles(params)
        result.cycles_measured, result.cycles_predicted = int(cycles.max()), predicted
        result.cycle_mismatches = int((cycles != predicted).sum())
    return result
