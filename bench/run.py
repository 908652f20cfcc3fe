"""``python -m bench.run [SECTION…]``: run benchmark sections, merge into bench/results.json.

A section is a module with ``run() -> dict``; :data:`SECTIONS` lists them (add yours there).
Results of sections not run this time are kept (the file is re-read before each write); the
file is replaced atomically.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from core.files import write_json_atomic

SECTIONS = ["bench.trace", "bench.formats", "bench.formats_mixpe_flightllm", "bench.simulate", "bench.mixpe",
            "bench.flightllm", "bench.flightllm_compiler", "bench.sweep"]
RESULTS = Path(__file__).with_name("results.json")


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or SECTIONS
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    ours = {}
    for name in names:
        start = time.perf_counter()
        print(f"[bench] {name} …", file=sys.stderr, flush=True)
        ours[name.removeprefix("bench.")] = importlib.import_module(name).run()
        print(f"[bench] {name} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        _merge(ours)
    print(json.dumps(ours, indent=2))
    return 0


def _merge(ours: dict) -> None:
    """Re-read the file just before replacing it, so sections run elsewhere meanwhile survive."""
    try:
        results = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        results = {}
    write_json_atomic(RESULTS, {**results, **ours})


if __name__ == "__main__":
    sys.exit(main())
