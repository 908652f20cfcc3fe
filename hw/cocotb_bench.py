"""Run a cocotb 2.x bench on a cached Verilator build, from pytest or from the CLI (host side).

A bench is a cocotb test module (e.g. :mod:`hw.olive.benches.decoder`, built from the drivers
of :mod:`hw.drivers`) that drives recorded input vectors through the design and records what
the design produced. Data crosses the process boundary as files in a fresh run directory:

- host → bench: ``inputs.npz`` (numpy arrays, named by the bench) and ``TAPEOUT_BENCH_DIR``;
- bench → host: ``outputs.npz`` (arrays: what the design produced, cycles where measured).

The host compares the outputs with the golden model; the bench itself knows nothing about
the expected values, so a comparison cannot be loosened inside the simulator.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw import verilator
from hw.drivers import BENCH_DIR_ENV
from hw.verilog import GeneratedVerilog


@dataclass
class BenchRun:
    """What one bench run produced: arrays, wall time (s), wave file if asked."""

    outputs: dict[str, np.ndarray]
    build_seconds: float
    run_seconds: float
    waves: Path | None = None


class BenchError(RuntimeError):
    """The simulation did not complete (a cocotb test failed or the simulator crashed)."""


def run_bench(design: GeneratedVerilog, test_module: str, inputs: dict[str, np.ndarray], *,
              waves: Path | None = None) -> BenchRun:
    """Build ``design`` (cached), run cocotb module ``test_module`` on it with ``inputs``.

    ``waves``: write an FST wave file there (the design is built with tracing for that).
    """
    from cocotb_tools.runner import get_results, get_runner

    start = time.perf_counter()
    build_dir = verilator.build(design, waves=waves is not None)
    built = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tapeout-bench-") as tmp:
        run_dir = Path(tmp)
        np.savez(run_dir / "inputs.npz", **inputs)
        results_xml = run_dir / "results.xml"
        log = run_dir / "sim.log"
        test_args = ["--trace-file", str(Path(waves).resolve())] if waves else []
        with verilator.tool_environ():
            runner = get_runner("verilator")
            runner.log.setLevel(logging.WARNING)
            try:
                runner.test(test_module=test_module, hdl_toplevel=design.top,
                            hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=run_dir,
                            results_xml=str(results_xml), extra_env={BENCH_DIR_ENV: str(run_dir)},
                            waves=waves is not None, test_args=test_args, log_file=log)
                failed = get_results(results_xml)[1] if results_xml.exists() else 1
            except (RuntimeError, SystemExit) as exc:
                failed, reason = 1, str(exc)
            else:
                reason = ""
        if failed or not (run_dir / "outputs.npz").exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
            raise BenchError(f"bench {test_module} on {design.top} failed {reason}\n{tail}")
        with np.load(run_dir / "outputs.npz") as data:
            outputs = {k: data[k] for k in data.files}
    done = time.perf_counter()
    return BenchRun(outputs, built - start, done - built, Path(waves) if waves else None)
