"""Benchmark: ``tapeout simulate llama2-7b --prefill 512`` end to end, and its growth with decode.

End to end = a fresh ``tapeout simulate`` process (imports, trace, mapping, simulation, report
files), wall-clock seconds. The goal (issue 4): decode 512 under 10 s on the development machine
(2 cores). Cost must grow linearly with decode steps: the section reports seconds at 128, 512
and 2048 steps and the fitted seconds per 1000 decode steps between them, in wall-clock and in
CPU seconds (the machine is shared: CPU time is the steadier measure; the 1-minute load
average is recorded). A second, in-process pass splits each run into trace / simulate / report
CPU seconds and gives the CPU microseconds per trace operation, which stay flat if the cost is
linear.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL, TARGET, PREFILL = "llama2-7b", "int8-systolic", 512
DECODES = (128, 512, 2048)


def _cli(decode: int, out: Path) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one ``tapeout simulate`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tapeout", "simulate", MODEL, "--target", TARGET,
                    "--prefill", str(PREFILL), "--decode", str(decode), "-o", str(out)],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _phases(decode: int, out: Path) -> dict:
    from models.trace.tracer import trace_model
    from sim.simulate import simulate
    from sim.target import load_target
    from tapeout.report.document import build_report, dumps_report
    from tapeout.report.write import write_report

    clock = time.process_time
    t0 = clock()
    trace, _ = trace_model(MODEL, PREFILL, decode)
    t1 = clock()
    sim = simulate(trace, load_target(TARGET))
    t2 = clock()
    doc = build_report(sim)
    write_report(doc, sim, out, dumps_report(doc, sim))
    t3 = clock()
    return {"ops": len(trace.ops), "distinct_programs": sim.distinct_programs,
            "trace_seconds": round(t1 - t0, 3), "simulate_seconds": round(t2 - t1, 3),
            "report_seconds": round(t3 - t2, 3),
            "cpu_microseconds_per_op": round((t3 - t0) / len(trace.ops) * 1e6, 2)}


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        runs = {d: _cli(d, Path(tmp) / f"d{d}") for d in DECODES}
        phases = {str(d): _phases(d, Path(tmp) / f"phases{d}") for d in DECODES}
    wall = {d: round(w, 3) for d, (w, _) in runs.items()}
    cpu = {d: round(c, 3) for d, (_, c) in runs.items()}

    def slopes(t: dict) -> dict:
        return {"128-512": round((t[512] - t[128]) / (512 - 128) * 1000, 3),
                "512-2048": round((t[2048] - t[512]) / (2048 - 512) * 1000, 3)}

    return {"model": MODEL, "target": TARGET, "prefill": PREFILL, "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "end_to_end_seconds": {str(d): s for d, s in wall.items()},
            "end_to_end_cpu_seconds": {str(d): s for d, s in cpu.items()},
            "seconds_per_1000_decode_steps": slopes(wall),
            "cpu_seconds_per_1000_decode_steps": slopes(cpu),
            "goal_decode_512_under_10_s": wall[512] < 10.0,
            "phases_cpu_seconds": phases}
