"""SCALE-Sim 3.0.0 in an environment of its own (it fails under numpy 2; the project needs 2).

``scalesim_python()`` creates, once per machine, a virtual environment under the tapeout cache
keyed by the pinned versions (``python -m venv`` + ``pip install scalesim==3.0.0 'numpy<2'``),
guarded by a file lock so parallel test workers share it. ``run_scalesim`` writes a GEMM
topology and a config, runs SCALE-Sim as a subprocess and returns its per-layer
``Total Cycles`` (compute cycles; stalls are 0 at the CALC interface bandwidth).
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

from models.cache import cache_root

SCALESIM = "scalesim==3.0.0"
NUMPY = "numpy<2"
KEY = f"scalesim-3.0.0-numpy1-py{sys.version_info.major}.{sys.version_info.minor}"

CONFIG = """[general]
run_name = tapeout

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = 256
FilterSramSzkB = 128
OfmapSramSzkB = 128
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Bandwidth = 10
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
"""

RUNNER = """
from scalesim.scale_sim import scalesim
s = scalesim(save_disk_space=True, verbose=False, config="scale.cfg", topology="gemm.csv",
             layout="layout.csv", input_type_gemm=True)
s.run_scale(top_path="out")
"""


def scalesim_python() -> Path:
    """The interpreter of the cached SCALE-Sim environment (created on first use)."""
    root = cache_root() / KEY
    python = root / "bin" / "python"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{KEY}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = root / ".ready"
        if not ready.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", SCALESIM, NUMPY], check=True)
            ready.write_text(f"{SCALESIM} {NUMPY}\n")
    return python


def run_scalesim(shapes: list[tuple[int, int, int]], rows: int, cols: int, dataflow: str,
                 workdir: Path) -> list[int]:
    """SCALE-Sim's compute cycles for GEMMs ``(m, k, n)`` (A: m×k, B: k×n) on a rows×cols array."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "scale.cfg").write_text(CONFIG.format(rows=rows, cols=cols, dataflow=dataflow))
    topo = ["Layer,M,N,K,"] + [f"g{i},{m},{n},{k}," for i, (m, k, n) in enumerate(shapes)]
    (workdir / "gemm.csv").write_text("\n".join(topo) + "\n")
    layout = ["Layer name," + ",".join(f"f{i}" for i in range(20)) + ","]
    layout += [f"g{i}," + ",".join(["1"] * 20) + "," for i in range(len(shapes))]
    (workdir / "layout.csv").write_text("\n".join(layout) + "\n")
    subprocess.run([str(scalesim_python()), "-c", RUNNER], cwd=workdir, check=True,
                   capture_output=True, text=True)
    report = (workdir / "out" / "tapeout" / "COMPUTE_REPORT.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[2]) for line in report if line.strip()]
