"""Benchmark: design-space sweep speed (issue 14).

Goals: one llama2-7b 512 + 512 point (280 k ops, traced once) in under 0.2 s of simulation; a
1,000-point sweep of that workload in under 5 minutes on this machine's 2 cores. The section
measures the per-point simulation time (best of 3, in process), then sweeps ``POINTS`` distinct
points (array rows × cols × weight-buffer size) at 1 and at 2 LocalCluster workers from an empty
cache, and reports points per second, the 2-worker scaling efficiency and the 1,000-point time
those rates imply (extrapolated, and labelled so).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

MODEL, TARGET, PREFILL, DECODE = "llama2-7b", "int8-systolic", 512, 512
ROWS, COLS, WEIGHTS = [8, 16, 24, 32, 48], [16, 32, 64, 128], ["64 KiB", "128 KiB"]
POINTS = len(ROWS) * len(COLS) * len(WEIGHTS)


def _per_point() -> float:
    from models.trace.tracer import trace_model
    from sim.simulate import simulate
    from sim.target import load_target

    trace = trace_model(MODEL, PREFILL, DECODE)[0]
    target = load_target(TARGET)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        simulate(trace, target, "int8")
        best = min(best, time.perf_counter() - start)
    return best


def _sweep_rate(workers: int) -> float:
    from tapeout.sweep import run
    from tapeout.sweep.spec import parse_sweep

    plan = parse_sweep({"base": TARGET, "format": "int8", "accuracy": False,
                        "workload": {"model": MODEL, "prefill": PREFILL, "decode": DECODE},
                        "axes": {"compute.rows": ROWS, "compute.cols": COLS,
                                 "buffers.weights.size": WEIGHTS}}, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        original = run.cache_dir
        run.cache_dir = lambda: Path(tmp)
        try:
            start = time.perf_counter()
            outcome = run.run_sweep(plan, workers=workers)
            seconds = time.perf_counter() - start
        finally:
            run.cache_dir = original
    assert outcome.computed == POINTS
    return POINTS / seconds


def run() -> dict:
    per_point = _per_point()
    one, two = _sweep_rate(1), _sweep_rate(2)
    return {"workload": f"{MODEL} {PREFILL} + {DECODE} on {TARGET} (int8)",
            "simulate_seconds_per_point": round(per_point, 3), "goal_seconds_per_point": 0.2,
            "sweep_points": POINTS,
            "points_per_second_1_worker": round(one, 3), "points_per_second_2_workers": round(two, 3),
            "scaling_efficiency_2_workers": round(two / (2 * one), 3),
            "extrapolated_1000_points_seconds_2_workers": round(1000 / two, 1),
            "goal_1000_points_seconds": 300,
            "note": "sweep rates include starting the LocalCluster and tracing once; the 1,000-point "
                    "time is extrapolated from the measured rate"}
