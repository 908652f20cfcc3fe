"""The compile job behind ``tapeout compile``: trace a zoo model at a bucket's length, compile
that step for a FlightLLM target (:mod:`sim.flightllm.compiler`) and describe the result.

A prefill of P tokens compiles the program of its bucket (:func:`sim.flightllm.buckets.prefill_bucket`,
P rounded up to a multiple of 128), a decode step at context L that of
:func:`~sim.flightllm.buckets.decode_bucket` (L up to a multiple of 16); ``exact`` compiles the
length as given (the programs length-adaptive compilation avoids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import UserError
from models.trace.ops import Op, Phase
from sim.engine import Engine
from sim.flightllm import buckets
from sim.flightllm.compiler import Compiled, compile_step, decode_program
from sim.numerics import resolve_numerics
from sim.simulate import program_energy_pj
from spec.schema import TargetSpec


@dataclass
class CompiledStep:
    """One compiled program: what it is for (``phase``, ``length`` compiled, ``requested``
    length) and the compiled step."""

    model: str
    phase: str
    length: int
    requested: int
    compiled: Compiled
    header: dict[str, Any]

    @property
    def file_name(self) -> str:
        return f"{self.model}-{self.phase}{self.length}.flb"


def check_compilable(target: TargetSpec) -> None:
    if target.compute.model != "flightllm-mpe":
        raise UserError(f"{target.name} is not a FlightLLM target (compute.model "
                        f"{target.compute.model!r}); the FlightLLM ISA needs flightllm-mpe, "
                        f"e.g. --target flightllm-u280")


def step_ops(model: str, phase: str, length: int) -> list[Op]:
    """The ops of one step of ``model``: a prefill of ``length`` tokens, or one decode step at
    context ``length``."""
    from models.trace.tracer import decode_steps, trace_model

    if phase == Phase.PREFILL.value:
        trace, _ = trace_model(model, length, 0)
        return [op for op in trace.ops if op.phase is Phase.PREFILL]
    return decode_steps(model, [length])[length]


def compiled_length(phase: str, requested: int, exact: bool) -> int:
    """The length a ``phase`` program for ``requested`` tokens is compiled at (its bucket, or
    the length itself with ``exact``); refuses lengths no program exists for."""
    if exact:
        low = 2 if phase == "decode" else 1
        if not low <= requested <= buckets.MAX_LENGTH:
            raise UserError(f"{phase} lengths are compiled from {low} to {buckets.MAX_LENGTH} tokens, "
                            f"got {requested}" + (" (a decode context counts the prompt and the new "
                                                  "token)" if phase == "decode" else ""))
        return requested
    return buckets.prefill_bucket(requested) if phase == "prefill" else buckets.decode_bucket(requested)


def compile_model_step(model: str, target: TargetSpec, fmt: str | None, phase: str, requested: int,
                       *, exact: bool = False, overlap: bool = True, ops: list[Op] | None = None,
                       progress: Callable[[int, int], None] | None = None) -> CompiledStep:
    """Compile one step of ``model`` (``ops``: already traced ops of that step; ``overlap``:
    always-on-chip decode, :mod:`sim.flightllm.overlap`)."""
    check_compilable(target)
    length = compiled_length(phase, requested, exact)
    ops = step_ops(model, phase, length) if ops is None else ops
    numerics = resolve_numerics(target, fmt, ops)
    compiled = compile_step(ops, target, numerics, overlap=overlap, progress=progress)
    header = {"target": target.name, "model": model, "format": fmt,
              "phase": phase, "length": length, "requested": requested,
              "overlap": overlap and phase == "decode",
              "precisions": list(compiled.precisions)}
    return CompiledStep(model, phase, length, requested, compiled, header)


def run_words(header: dict[str, Any], words, target: TargetSpec) -> dict[str, Any]:
    """Decode a program's words and run them on ``target``: cycles, time, energy, traffic."""
    check_compilable(target)
    if header.get("target") != target.name:
        raise UserError(f"the program was compiled for {header.get('target')!r}, not {target.name!r}")
    program = decode_program(words, target, header["precisions"])
    return run_program(program, target)


def run_program(program, target: TargetSpec) -> dict[str, Any]:
    """One program on ``target``'s engine: cycles, seconds, energy (J), busy units, off-chip bytes
    and the bandwidth utilisation (bytes moved over what the peak moves in that time)."""
    stats = Engine(target).run(program)
    seconds = stats.cycles / target.clock
    moved = stats.bytes_read + stats.bytes_written
    return {"instructions": len(program), "cycles": stats.cycles, "seconds": seconds,
            "energy_j": program_energy_pj(target, stats) * 1e-12, "busy_cycles": stats.busy,
            "bytes_read": stats.bytes_read, "bytes_written": stats.bytes_written,
            "bandwidth_utilisation": moved / (target.peak_bandwidth * seconds) if seconds else 0.0}


def summary(step: CompiledStep, target: TargetSpec) -> dict[str, Any]:
    """The JSON summary of one compiled program: instructions per kind, bytes, regions, and
    its simulated run."""
    c = step.compiled
    counts = c.counts()
    return {"file": step.file_name, "phase": step.phase, "length": step.length,
            "requested": step.requested, "overlap": step.header["overlap"], "instructions": counts,
            "total_instructions": sum(counts.values()), "bytes": c.nbytes,
            "hbm_bytes": sum(size for _, _, size in c.regions),
            "run": run_program(c.program, target)}
