"""Benchmark: the FlightLLM CSD-chain benches on Verilator and its FPGA synthesis.

RTL: each chain unit's default bench at L = 16 (1600 runs: 200 per N ∈ {2, 4, 8, 16} × INT4 /
INT8) is run twice; the first run builds the Verilator model (or finds it cached), the second
measures the bench alone. Reported: build seconds, run seconds and runs per second. Goal
(issue 11): the dequantizing chain's 1600 runs under 30 s after the build.

FPGA: ``synth_xilinx -family xcup`` of the integer chain (L = 16), wall-clock seconds, with its
DSP48E2 / LUT / FF counts and the U280 fit.
"""

from __future__ import annotations

import sys
import time

UNITS = ("flightllm-chain", "flightllm-chain-psum")
CHAIN_GOAL_SECONDS = 30


def _rtl() -> dict:
    from hw.registry import get_unit, resolve_params
    from hw.verify import verify

    out = {}
    for name in UNITS:
        unit = get_unit(name)
        params = resolve_params(unit)
        first = verify(unit, params)
        second = verify(unit, params)
        assert second.passed, second.examples
        print(f"[bench] {name}: {second.vectors} runs in {second.run_seconds:.1f} s",
              file=sys.stderr, flush=True)
        out[name] = {"vectors": second.vectors, "build_seconds": round(first.build_seconds, 2),
                     "run_seconds": round(second.run_seconds, 2),
                     "runs_per_second": round(second.vectors / second.run_seconds, 1),
                     "cycles_per_run": second.cycles_measured}
    goal = out["flightllm-chain"]["run_seconds"] < CHAIN_GOAL_SECONDS
    return {"units": out, "goal_chain_1600_runs_under_30_s": goal}


def _fpga() -> dict:
    from hw.fpga import fpga_report
    from hw.registry import get_unit, resolve_params

    unit = get_unit("flightllm-chain-psum")
    start = time.perf_counter()
    doc = fpga_report(unit, resolve_params(unit), "xcup")
    wall = time.perf_counter() - start
    print(f"[bench] synth_xilinx of {doc['top']}: {wall:.1f} s", file=sys.stderr, flush=True)
    return {"seconds": round(wall, 1), "dsp": doc["dsp"], "lut": doc["lut"], "ff": doc["ff"],
            "carry": doc["carry"], "u280_chains": doc["fit"]["instances"],
            "binding": doc["fit"]["binding"]}


def run() -> dict:
    return {"rtl": _rtl(), "fpga_xcup": _fpga()}
