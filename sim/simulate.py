"""Simulate a whole trace on a target: map every op, run it on the engine, count energy.

Ops execute one after another: each op's program ends before the next starts (a barrier, as
FlightLLM's SYS between stages), so an op's cycles depend only on its own program. A program
depends only on the op's kind, shapes and operand numerics (not its name, layer or step; a
format with per-layer rules gives equal shapes different numerics). So the trace is simulated
from its digest (:mod:`sim.digest`: each distinct op group once, with its count), and programs
are memoised per (numerics, shapes) key: the 280 k ops of llama2-7b with 512 decode steps are
2 001 groups and 1 558 distinct programs, each executed with its periodic stretches skipped
(:class:`sim.engine.Execution`). ``memo=False`` maps and runs every op and every instruction;
``tests/sim/test_simulate.py`` and ``tests/sim/test_digest.py`` check both give identical
results, and that one program of the whole trace (ops joined by barriers) gives the same total.

Element-wise ops the target may fuse run inside the preceding matrix op's program (see
:mod:`mapping.mapper`); the fused op is charged what it adds: cycles, bytes and actions of the
group minus those of the group without it (``fused_into`` names the producer).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from core.errors import UserError
from mapping.mapper import FusedOp, map_matrix, map_vector, matrix_opcode, misc_ops_per_element
from mapping.program import Program
from models.trace.ops import MATRIX_KINDS, Op, OpKind, Phase, Trace
from sim.digest import DigestedTrace, TraceDigest, digest, fusion_groups, op_key, weight_shapes
from sim.energy.table import EnergyTable, load_table
from sim.engine import Engine, MatrixTileTimer, ProgramStats
from sim.numerics import Numerics, resolve_numerics
from spec.schema import TargetSpec


@dataclass(frozen=True, slots=True)
class OpResult:
    """One trace op on the target. Cycles of the target clock; bytes off-chip; energy in pJ
    (dynamic actions + the static power over the op's cycles); ``vector_ops``: SFU
    element-operations."""

    cycles: int
    compute_cycles: int
    stall_cycles: int
    bytes_read: int
    bytes_written: int
    macs: float
    vector_ops: float
    energy_pj: float
    fused_into: str | None = None

    @property
    def bytes_offchip(self) -> int:
        return self.bytes_read + self.bytes_written


@dataclass
class Simulation:
    """The results of a run and its action totals. Results are kept per distinct op group
    (``digest``: each group once, with how often it occurs; ``group_results[i]``: the results of
    group ``i``'s ops); :attr:`results` expands them to every op of the trace, in order, on first
    use. Totals (:attr:`cycles`, :meth:`phase_totals`) never expand."""

    trace: Trace | DigestedTrace
    target: TargetSpec
    numerics: Numerics
    table: EnergyTable
    digest: TraceDigest
    group_results: list[list[OpResult]]
    actions: Counter
    distinct_programs: int
    _results: list[OpResult] | None = None

    @property
    def clock(self) -> float:
        return self.target.clock

    @property
    def results(self) -> list[OpResult]:
        """One result per trace op, in trace order (a fused op's ``fused_into`` names its producer)."""
        if self._results is None:
            if isinstance(self.trace, DigestedTrace):
                raise TypeError("a simulation of a digested trace has totals only, no per-op results")
            ops, found, out = self.trace.ops, self.group_results, []
            for start, entry in zip(self.digest.starts, self.digest.entries, strict=True):
                group = found[entry]
                out.append(group[0])
                if len(group) > 1:
                    producer = ops[start].name
                    out.extend(replace(r, fused_into=producer) for r in group[1:])
            self._results = out
        return self._results

    def phase_totals(self) -> dict[Phase, dict[str, float]]:
        """Per phase: ``cycles``, ``energy_pj``, ``bytes`` (off chip), ``macs``, ``ops``. Energy
        is summed exactly (:func:`exact_sum`), as if over every op."""
        totals = {p: dict.fromkeys(("cycles", "bytes", "macs", "ops"), 0) for p in Phase}
        energy: dict[Phase, list] = {p: [] for p in Phase}
        for results, count, phase in zip(self.group_results, self.digest.counts, self.digest.phases,
                                         strict=True):
            bucket = totals[phase]
            for r in results:
                bucket["cycles"] += r.cycles * count
                bucket["bytes"] += r.bytes_offchip * count
                bucket["macs"] += r.macs * count
                bucket["ops"] += count
                energy[phase].append((r.energy_pj, count))
        for phase, bucket in totals.items():
            bucket["energy_pj"] = exact_sum(energy[phase])
        return totals

    @property
    def cycles(self) -> int:
        """Cycles of the whole run (ops run one after another)."""
        return sum(sum(r.cycles for r in results) * count
                   for results, count in zip(self.group_results, self.digest.counts, strict=True))

    @property
    def linear_precision(self) -> str:
        """The precision of the linear layers (:attr:`sim.numerics.Numerics.linear_precision`)."""
        return self.numerics.linear_precision

    @property
    def energy_joules(self) -> float:
        """Energy of the whole run, unrounded (J): the exact sum over every op, rounded once."""
        return exact_sum((r.energy_pj, count) for results, count
                         in zip(self.group_results, self.digest.counts, strict=True)
                         for r in results) * 1e-12


def exact_sum(terms: Iterable[tuple[float, int]]) -> float:
    """Σ value × count, computed exactly and rounded once: the same float as ``math.fsum`` over
    every repeated term, whatever the grouping (so digested and per-op sums agree bit for bit)."""
    return float(sum(Fraction(value) * count for value, count in terms))


def action_energy_pj(target: TargetSpec, table: EnergyTable, actions: Counter) -> float:
    """Dynamic energy (pJ) of ``actions`` (action → count) from ``target``'s energy ``table``
    (``math.fsum``: correctly rounded, so the order of the actions does not matter)."""
    entries = table.entries
    try:
        return math.fsum(count * entries[a].pj for a, count in actions.items())
    except KeyError:
        missing = sorted(a for a in actions if a not in entries)
        raise UserError(f"target {target.name}: energy table {table.name!r} has no entry "
                        f"for action(s) {', '.join(missing)} counted by compute model "
                        f"{target.compute.model!r}") from None


def static_pj_per_cycle(target: TargetSpec) -> float:
    """The target's static power over one cycle of its clock (pJ)."""
    return target.static_watts / target.clock * 1e12


def program_energy_pj(target: TargetSpec, stats: ProgramStats) -> float:
    """Energy (pJ) of one program run: its actions plus the target's static power over its cycles."""
    return (action_energy_pj(target, load_table(target.energy), stats.actions)
            + stats.cycles * static_pj_per_cycle(target))


class Simulator:
    """Maps and runs op groups on one target under one set of numerics, memoising by shape."""

    def __init__(self, target: TargetSpec, numerics: Numerics, *, memo: bool = True):
        self.target, self.numerics, self.memo = target, numerics, memo
        self.engine = Engine(target)
        self.table = load_table(target.energy)
        self._static_pj_per_cycle = static_pj_per_cycle(target)
        self._cache: dict[tuple, tuple[list[OpResult], tuple]] = {}

    def key(self, group: list[Op]) -> tuple:
        """What the program of ``group`` depends on: shapes, and the head's operand bits (a
        format with per-layer rules gives equal shapes different numerics)."""
        head = group[0]
        bits = self.numerics.for_op(head) if head.kind in MATRIX_KINDS else None
        return (bits, *map(op_key, group))

    def program(self, group: list[Op]) -> Program:
        """The program of a group: ``group[0]`` with ``group[1:]`` fused into it."""
        return self._map(group, Program())

    def execute(self, group: list[Op]) -> ProgramStats:
        """The group's program run on the engine as it is mapped, identical periods skipped
        (:class:`sim.engine.Execution`): the same stats as running :meth:`program`, which is
        what an unmemoised simulator does (the reference the tests compare with)."""
        if not self.memo:
            return self.engine.run(self.program(group))
        return self._map(group, self.engine.execution()).stats()

    def _map(self, group: list[Op], sink):
        head = group[0]
        if not head.is_matrix:
            return map_vector(head, self.target, sink)
        v = self.target.vector
        fused = tuple(FusedOp(op.kind.value, misc_ops_per_element(self.target, op.kind.value),
                              len(op.inputs) - 1, v.element_bits) for op in group[1:])
        bits = self.numerics.for_op(head)
        timer = MatrixTileTimer(self.engine, matrix_opcode(head), bits.precision, bits.density)
        return map_matrix(head, bits, self.target, fused, timer, sink)

    def _energy(self, actions: Counter) -> float:
        return action_energy_pj(self.target, self.table, actions)

    def _result(self, stats: ProgramStats, prev: ProgramStats | None, head: Op) -> OpResult:
        if prev is None:
            unit = "matrix" if head.is_matrix else "vector"
            cycles, compute = stats.cycles, min(stats.busy[unit], stats.cycles)
            actions, rd, wr, macs = stats.actions, stats.bytes_read, stats.bytes_written, stats.macs
        else:
            cycles = stats.cycles - prev.cycles
            compute = max(0, min(stats.busy["vector"] - prev.busy["vector"], cycles))
            actions = Counter(stats.actions)
            actions.subtract(prev.actions)
            rd, wr = stats.bytes_read - prev.bytes_read, stats.bytes_written - prev.bytes_written
            macs = stats.macs - prev.macs
        dynamic = self._energy(actions)
        vector_ops = actions.get(self.target.vector.op_action, 0.0)
        return OpResult(cycles, compute, cycles - compute, rd, wr, macs, vector_ops,
                        dynamic + cycles * self._static_pj_per_cycle)

    def run_group(self, group: list[Op]) -> tuple[list[OpResult], tuple]:
        """Results of each op of ``group`` and the group's total actions (as sorted items).
        Results depend on shapes only: ``fused_into`` is left for the caller to name."""
        key = self.key(group)
        if self.memo and key in self._cache:
            return self._cache[key]
        results, prev, stats = [], None, None
        for size in range(1, len(group) + 1):
            stats = self.execute(group[:size])
            results.append(self._result(stats, prev, group[0]))
            prev = stats
        value = (results, tuple(sorted(stats.actions.items())))
        if self.memo:
            self._cache[key] = value
        return value

    @property
    def distinct_programs(self) -> int:
        return len(self._cache)


def model_bytes(trace: Trace, numerics: Numerics) -> dict[str, int]:
    """Off-chip bytes the model needs resident: weights (linear at the format's bits, LM head and
    other parameters at their precision) and the KV cache for prefill + decode tokens."""
    shapes = weight_shapes(trace)
    weights = sum(math.ceil(k * n * (numerics.linear(name) if kind is OpKind.LINEAR
                                     else numerics.lm_head).w_bits / 8)
                  for name, (kind, k, n) in shapes.shapes.items())
    m = trace.model
    other = max(0, int(m.get("parameters", 0)) - shapes.prefill_linear - shapes.prefill_lm_head)
    kv = 0
    if m.get("layers") and m.get("kv_heads") and m.get("head_dim"):
        tokens = (trace.prefill + trace.decode) * trace.batch
        kv = math.ceil(2 * m["layers"] * m["kv_heads"] * m["head_dim"] * tokens
                       * numerics.attention.w_bits / 8)
    weights += other * 2
    return {"weights": weights, "kv_cache": kv, "total": weights + kv}


def check_fits(trace: Trace, target: TargetSpec, numerics: Numerics) -> dict[str, int]:
    need = model_bytes(trace, numerics)
    have = int(target.memory.capacity)
    if need["total"] > have:
        raise UserError(
            f"{trace.name} does not fit {target.name}: it needs {need['total']:,} bytes "
            f"({need['weights']:,} of weights at their format's bits + "
            f"{need['kv_cache']:,} of KV cache) but the target's {target.memory.kind} holds "
            f"{have:,} bytes; choose a narrower --format or a target with more memory")
    return need


def simulate(trace: Trace | DigestedTrace, target: TargetSpec, fmt: str | Any | None = None, *,
             memo: bool = True, progress: Callable[[int, int], None] | None = None) -> Simulation:
    """Simulate every op of ``trace`` on ``target`` with its linear layers in number format
    ``fmt`` (a name or a format object; ``None``: the target's default precision). Each distinct
    op group (:mod:`sim.digest`) is simulated once; ``memo=False`` maps and runs every op of
    the trace instead, executing every instruction (the reference the tests compare with).
    ``progress(done, total)`` counts distinct groups (every op without ``memo``). A
    :class:`~sim.digest.DigestedTrace` gives the same totals (and no per-op results)."""
    summary = digest(trace, target)
    numerics = resolve_numerics(target, fmt, [op for group in summary.groups for op in group])
    check_fits(trace, target, numerics)
    sim = Simulator(target, numerics, memo=memo)
    if memo:
        groups = [list(group) for group in summary.groups]
        counts = summary.counts
    else:
        if isinstance(trace, DigestedTrace):
            raise ValueError("simulate(memo=False) runs every op: it needs the whole trace")
        groups = [trace.ops[start:stop] for start, stop in fusion_groups(trace.ops, target)]
        counts = (1,) * len(groups)
        summary = TraceDigest(tuple(map(tuple, groups)), counts, tuple(g[0].phase for g in groups),
                              summary.starts, array("q", range(len(groups))))
    group_results: list[list[OpResult]] = []
    totals: Counter = Counter()
    for i, (group, count) in enumerate(zip(groups, counts, strict=True)):
        results, actions = sim.run_group(group)
        group_results.append(results)
        for action, value in actions:
            totals[action] += value * count
        if progress is not None and i % 64 == 0:
            progress(i, len(groups))
    if progress is not None:
        progress(len(groups), len(groups))
    return Simulation(trace, target, numerics, sim.table, summary, group_results, totals,
                      sim.distinct_programs if memo else len(trace.ops))
