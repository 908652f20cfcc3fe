"""Benchmark: the MixPE RTL benches on Verilator and ``tapeout report mixpe`` end to end.

RTL: each MixPE unit's default bench (:func:`hw.verify.verify`) is run twice; the first run
builds the Verilator model (or finds it cached), the second measures the bench alone. Reported:
build seconds of the first run, run seconds and vectors per second of the second. Goal (issue
10): the W4A8 array bench of 200 tiles under 60 s after the build.

Report: a fresh ``tapeout report mixpe`` process (both modes, four models, eight designs) with a
given accuracy report, wall-clock seconds. Goal (issue 10): under 3 minutes on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNITS = [("mixpe-pe-w4a8", {}), ("mixpe-pe-w4a16", {}), ("mixpe-array", {"bits": "8"}),
         ("mixpe-array", {"bits": "16"})]
ARRAY_GOAL_SECONDS = 60
REPORT_GOAL_SECONDS = 180


def _rtl() -> dict:
    from hw.registry import get_unit, resolve_params
    from hw.verify import verify

    out = {}
    for name, options in UNITS:
        unit = get_unit(name)
        params = resolve_params(unit, options=options)
        first = verify(unit, params)
        second = verify(unit, params)
        assert second.passed, second.examples
        label = name + "".join(f"-{k}{v}" for k, v in options.items())
        print(f"[bench] {label}: {second.vectors} {unit.vector_noun}s in {second.run_seconds:.1f} s",
              file=sys.stderr, flush=True)
        out[label] = {"vectors": second.vectors, "vector": unit.vector_noun,
                      "build_seconds": round(first.build_seconds, 2),
                      "run_seconds": round(second.run_seconds, 2),
                      "vectors_per_second": round(second.vectors / second.run_seconds, 1)}
    array = out["mixpe-array-bits8"]["run_seconds"]
    return {"units": out, "goal_w4a8_array_200_tiles_under_60_s": array < ARRAY_GOAL_SECONDS}


def _report() -> dict:
    accuracy = Path("reports/accuracy-smollm2-135m.json")
    with tempfile.TemporaryDirectory(prefix="tapeout-bench-") as tmp:
        args = [sys.executable, "-m", "tapeout", "report", "mixpe", "-o", tmp]
        if accuracy.exists():
            args += ["--accuracy", str(accuracy)]
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ})
        wall = time.perf_counter() - start
        doc = json.loads((Path(tmp) / "mixpe.json").read_text())
    return {"seconds": round(wall, 1), "rows": len(doc["rows"]),
            "goal_under_3_minutes": wall < REPORT_GOAL_SECONDS,
            "load_average_1min": round(os.getloadavg()[0], 2)}


def run() -> dict:
    return {"rtl": _rtl(), "report": _report()}
