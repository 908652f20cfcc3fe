"""Benchmark: the FlightLLM compiler (issue 12 goals).

- Compiling the LLaMA2-7B decode step at context 2048 for flightllm-u280 (``flightllm-w4s``,
  always-on-chip decode) into words: goal under 2 s (the trace, made once, is timed apart).
- All 144 bucket programs (16 prefill, 128 decode) of LLaMA2-7B: goal under 60 s, tracing
  included (one two-step trace gives every decode context; each prefill bucket is traced).
- One decode step simulated from its binary (read, decode, run): goal under 0.5 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

MODEL, TARGET, FORMAT = "llama2-7b", "flightllm-u280", "flightllm-w4s"


def run() -> dict:
    from models.trace.tracer import decode_steps
    from sim.flightllm import buckets
    from sim.flightllm.binary import read_program, write_program
    from sim.target import load_target
    from tapeout.compile import compile_model_step, run_words, step_ops

    target = load_target(TARGET)
    start = time.perf_counter()
    ops = decode_steps(MODEL, [2048])[2048]
    trace_s = time.perf_counter() - start
    start = time.perf_counter()
    step = compile_model_step(MODEL, target, FORMAT, "decode", 2048, ops=ops)
    compile_s = time.perf_counter() - start
    print(f"[bench] {MODEL} decode 2048: {len(step.compiled.program):,} instructions in {compile_s:.2f} s",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_program(Path(tmp) / "p.flb", step.header, step.compiled.words)
        start = time.perf_counter()
        header, words = read_program(path)
        run = run_words(header, words, target)
        binary_s = time.perf_counter() - start
    start = time.perf_counter()
    contexts = decode_steps(MODEL, list(buckets.decode_buckets()))
    total_bytes = 0
    for c, step_ops_ in contexts.items():
        total_bytes += compile_model_step(MODEL, target, FORMAT, "decode", c, ops=step_ops_).compiled.nbytes
    for p in buckets.prefill_buckets():
        total_bytes += compile_model_step(MODEL, target, FORMAT, "prefill", p,
                                          ops=step_ops(MODEL, "prefill", p)).compiled.nbytes
    all_s = time.perf_counter() - start
    print(f"[bench] 144 bucket programs in {all_s:.1f} s", file=sys.stderr, flush=True)
    return {"decode_2048": {"instructions": len(step.compiled.program), "bytes": step.compiled.nbytes,
                            "trace_seconds": round(trace_s, 2), "compile_seconds": round(compile_s, 2),
                            "goal_under_2_s": compile_s < 2},
            "binary_decode_step": {"seconds": round(binary_s, 3), "cycles": run["cycles"],
                                   "goal_under_0_5_s": binary_s < 0.5},
            "all_buckets": {"programs": 144, "seconds": round(all_s, 1), "bytes": total_bytes,
                            "goal_under_60_s": all_s < 60}}
