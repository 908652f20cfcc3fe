"""Dense systolic baseline vs an independent simulator (DESIGN.md ladder step 5): SCALE-Sim.

Our ``int8-systolic`` compute cycles (the engine's matrix-unit busy cycles for each GEMM, run
through the real mapping) must equal SCALE-Sim 3.0.0's per-layer "Total Cycles" plus a
documented constant: +1 per GEMM (SCALE-Sim counts from cycle 0), plus the fill/drain our
tiling adds when it splits a GEMM — ``R + C − 2`` per extra K tile per output fold (OS), and
``2R + C − 2`` per extra M tile per weight fold (WS).

The array is shrunk to 8 × 4 (rows ≠ columns, so a swapped R and C cannot pass) because
SCALE-Sim's Python memory model takes ≈ 0.15 ms per simulated cycle: llama2-7b's full linear
GEMMs (≥ 10^5–10^7 cycles each) would take hours. The formula is shape-general; llama2-7b's
GEMMs enter as every attention shape at the test's context (head_dim 128, full size) and every
linear shape with K and N divided by 64 (same aspect ratios, same non-multiple remainders:
11008 / 64 = 172), at decode (M = 1) and prefill (M = 16).
"""

from __future__ import annotations

import math

import pytest
import yaml
from scalesim_env import run_scalesim

from hw.spec import TARGETS_DIR, parse_target
from mapping.mapper import OperandBits, gemm_shape, map_matrix, tiling_for
from models.trace.ops import Op, OpKind, Phase
from sim.engine import Engine

ROWS, COLS = 8, 4
LLAMA2_7B_LINEAR = [(4096, 4096), (4096, 11008), (11008, 4096), (4096, 32000)]   # (K, N)
SHAPES = (
    [(m, k // 64, math.ceil(n / 64)) for m in (1, 16) for k, n in LLAMA2_7B_LINEAR]
    + [(16, 128, 16), (16, 16, 128), (1, 128, 17), (1, 17, 128)]                    # llama2-7b attention
    + [(5, 9, 7), (17, 40, 33), (32, 31, 29), (64, 128, 64), (1, 1, 1), (3, 100, 2), (100, 3, 2),
       (9, 55, 37), (33, 65, 17), (8, 8, 8)]
)
DATAFLOWS = {"os": ("systolic-os", "output-stationary"), "ws": ("systolic-ws", "weight-stationary")}


def _target(dataflow: str):
    doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
    model, name = DATAFLOWS[dataflow]
    doc["compute"].update(rows=ROWS, cols=COLS, model=model, dataflow=name)
    doc["compute"]["precisions"]["int8"]["macs_per_cycle"] = ROWS * COLS
    return parse_target(doc, f"int8-systolic {ROWS}x{COLS} {dataflow}")


def _split_overhead(dataflow: str, m: int, k: int, n: int, tm: int, tk: int, tn: int) -> int:
    if dataflow == "os":
        return (math.ceil(k / tk) - 1) * math.ceil(m / ROWS) * math.ceil(n / COLS) * (ROWS + COLS - 2)
    return (math.ceil(m / tm) - 1) * math.ceil(k / ROWS) * math.ceil(n / COLS) * (2 * ROWS + COLS - 2)


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_int8_systolic_compute_cycles_equal_scalesim(dataflow, tmp_path):
    assert len(SHAPES) >= 20
    theirs = run_scalesim(SHAPES, ROWS, COLS, dataflow, tmp_path)
    target = _target(dataflow)
    engine = Engine(target)
    bits = OperandBits("int8", 8, 8, 8)
    for (m, k, n), reference in zip(SHAPES, theirs, strict=True):
        op = Op("g", OpKind.LINEAR, 0, Phase.PREFILL, 0, ((m, k),), ((m, n),), "float16",
                m=m, k=k, n=n, batch=1)
        ours = engine.run(map_matrix(op, bits, target)).busy["matrix"]
        t = tiling_for(gemm_shape(op, bits, 32), target)
        assert ours == reference + 1 + _split_overhead(dataflow, m, k, n, t.tm, t.tk, t.tn), (m, k, n)
