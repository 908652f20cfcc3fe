"""Benchmark: tracing a large model on the ``meta`` device (issue 2 goal: llama2-7b with prefill
512 and 8 decode steps in under 30 s and under 2 GB peak RSS).

Each case runs ``tapeout trace`` in a fresh process and records wall-clock seconds and that
process's own peak resident set size (``ru_maxrss`` it reports for itself).
"""

from __future__ import annotations

import subprocess
import sys
import time

CASES = [("llama2-7b", 512, 8), ("llama2-13b", 512, 8), ("llama2-7b", 512, 2048)]


_CHILD = """
import resource, sys
from tapeout.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _one(model: str, prefill: int, decode: int) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, "trace", model, "--prefill", str(prefill),
                           "--decode", str(decode)], check=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return {"model": model, "prefill": prefill, "decode": decode, "seconds": round(wall, 2),
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "goal": "< 30 s and < 2048 MiB" if (model, prefill, decode) == ("llama2-7b", 512, 8) else None}


def run() -> dict:
    return {"cases": [_one(*case) for case in CASES]}
