"""Regenerate ``data/scalesim-llama2-7b.json``: SCALE-Sim 3.0.0 on every full-size (K, N) of
llama2-7b's linear layers, at decode (M = 1), on the real 32 × 32 output-stationary array.

These runs take ≈ 20 min (SCALE-Sim steps its memory model in Python, ≈ 0.1 ms per simulated
cycle), too long for ``make test``; their outputs are stored and ``test_scalesim.py`` checks our
cycles against them. Run from the repository root: ``.venv/bin/python tests/sim/scalesim_reference.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scalesim_env import KEY, run_scalesim  # noqa: E402

ROWS = COLS = 32
DATAFLOW = "os"
SHAPES = [(1, 4096, 4096), (1, 4096, 11008), (1, 11008, 4096), (1, 4096, 32000)]
OUT = Path(__file__).parent / "data" / "scalesim-llama2-7b.json"


def main() -> None:
    results = []
    for shape in SHAPES:
        with tempfile.TemporaryDirectory() as tmp:
            (total,) = run_scalesim([shape], ROWS, COLS, DATAFLOW, Path(tmp))
        results.append({"m": shape[0], "k": shape[1], "n": shape[2], "total_cycles": total})
        print(shape, total, flush=True)
    doc = {"simulator": KEY, "rows": ROWS, "cols": COLS, "dataflow": DATAFLOW,
           "generated_by": "tests/sim/scalesim_reference.py", "layers": results}
    OUT.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
