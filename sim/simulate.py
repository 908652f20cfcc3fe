"""Simulate a whole trace on a target: map every op, run it on the engine, count energy.

Ops execute one after another: each op's program ends before the next starts (a barrier, as
FlightLLM's SYS between stages), so an op's cycles depend only on its own program. A program
depends only on the op's kind, shapes and operand numerics (not its name, layer or step; a
format with per-layer rules gives equal shapes different numerics), so results are memoised
per (numerics, shapes) key: the 280 k ops of llama2-7b with 512 decode steps need only a few
thousand distinct programs. ``memo=False`` maps and runs every op;
``tests/sim/test_simulate.py`` checks both give identical results, and that one program of the
whole trace (ops joined by barriers) gives the same total.

Element-wise ops the target may fuse run inside the preceding matrix op's program (see
:mod:`mapping.mapper`); the fused op is charged what it adds: cycles, bytes and actions of the
group minus those of the group without it (``fused_into`` names the producer).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from core.errors import UserError
from mapping.mapper import FusedOp, map_matrix, map_vector, matrix_opcode, misc_ops_per_element
from mapping.program import Program
from models.trace.ops import MATRIX_KINDS, Op, OpKind, Phase, Trace
from sim.energy.table import EnergyTable, load_table
from sim.engine import Engine, MatrixTileTimer, ProgramStats
from sim.numerics import Numerics, resolve_numerics
from spec.schema import TargetSpec

_PRODUCERS = {"softmax": {OpKind.ATTN_SCORE}, "activation": {OpKind.LINEAR},
              "eltwise": {OpKind.LINEAR}, "rope": {OpKind.LINEAR}}


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
    """Per-op results (in trace order) and the action totals of the whole run."""

    trace: Trace
    target: TargetSpec
    numerics: Numerics
    table: EnergyTable
    results: list[OpResult]
    actions: Counter
    distinct_programs: int

    @property
    def clock(self) -> float:
        return self.target.clock

    @property
    def cycles(self) -> int:
        """Cycles of the whole run (ops run one after another)."""
        return sum(r.cycles for r in self.results)

    @property
    def linear_precision(self) -> str:
        """The precision of the linear layers (:attr:`sim.numerics.Numerics.linear_precision`)."""
        return self.numerics.linear_precision

    @property
    def energy_joules(self) -> float:
        """Energy of the whole run, unrounded (J)."""
        return math.fsum(r.energy_pj for r in self.results) * 1e-12


def action_energy_pj(target: TargetSpec, table: EnergyTable, actions: Counter) -> float:
    """Dynamic energy (pJ) of ``actions`` (action → count) from ``target``'s energy ``table``."""
    missing = [a for a in actions if a not in table.entries]
    if missing:
        raise UserError(f"target {target.name}: energy table {table.name!r} has no entry "
                        f"for action(s) {', '.join(sorted(missing))} counted by compute model "
                        f"{target.compute.model!r}")
    return math.fsum(count * table.entries[a].pj for a, count in sorted(actions.items()))


def static_pj_per_cycle(target: TargetSpec) -> float:
    """The target's static power over one cycle of its clock (pJ)."""
    return target.static_watts / target.clock * 1e12


def program_energy_pj(target: TargetSpec, stats: ProgramStats) -> float:
    """Energy (pJ) of one program run: its actions plus the target's static power over its cycles."""
    return (action_energy_pj(target, load_table(target.energy), stats.actions)
            + stats.cycles * static_pj_per_cycle(target))


def op_key(op: Op) -> tuple:
    """Everything a program depends on (kind and shapes), nothing it does not (name, layer, step);
    with the numerics of a matrix op (:meth:`Simulator.key`) it identifies the program."""
    return (op.kind, op.m, op.k, op.n, op.batch, op.kv_heads, op.inputs, op.outputs)


def _fusable(producer: Op, op: Op, target: TargetSpec) -> bool:
    kind = op.kind.value
    return (kind in target.compute.fusion and producer.kind in _PRODUCERS.get(kind, ())
            and op.phase is producer.phase and op.step == producer.step
            and op.output_elements == producer.output_elements)


def fusion_groups(ops: list[Op], target: TargetSpec) -> Iterator[tuple[int, int]]:
    """(start, stop) index ranges: a matrix op with the element-wise ops fused into it, or one op."""
    fusion = bool(target.compute.fusion)
    i, n = 0, len(ops)
    while i < n:
        j = i + 1
        if fusion and ops[i].kind in MATRIX_KINDS:
            while j < n and _fusable(ops[i], ops[j], target):
                j += 1
        yield i, j
        i = j


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
        head = group[0]
        if not head.is_matrix:
            return map_vector(head, self.target)
        v = self.target.vector
        fused = tuple(FusedOp(op.kind.value, misc_ops_per_element(self.target, op.kind.value),
                              len(op.inputs) - 1, v.element_bits) for op in group[1:])
        bits = self.numerics.for_op(head)
        timer = MatrixTileTimer(self.engine, matrix_opcode(head), bits.precision, bits.density)
        return map_matrix(head, bits, self.target, fused, timer)

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
            stats = self.engine.run(self.program(group[:size]))
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
    seen: dict[str, int] = {}
    for op in trace.ops:
        if op.kind in (OpKind.LINEAR, OpKind.LM_HEAD) and op.name not in seen:
            seen[op.name] = math.ceil(op.k * op.n * numerics.for_op(op).w_bits / 8)
    linear_params = sum(op.k * op.n for op in trace.ops if op.kind is OpKind.LINEAR
                        and op.phase is Phase.PREFILL and op.step == 0)
    m = trace.model
    other = max(0, int(m.get("parameters", 0)) - linear_params
                - sum(op.k * op.n for op in trace.ops if op.kind is OpKind.LM_HEAD and op.step == 0
                      and op.phase is Phase.PREFILL))
    kv = 0
    if m.get("layers") and m.get("kv_heads") and m.get("head_dim"):
        tokens = (trace.prefill + trace.decode) * trace.batch
        kv = math.ceil(2 * m["layers"] * m["kv_heads"] * m["head_dim"] * tokens
                       * numerics.attention.w_bits / 8)
    weights = sum(seen.values()) + other * 2
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


def simulate(trace: Trace, target: TargetSpec, fmt: str | Any | None = None, *,
             memo: bool = True, progress: Callable[[int, int], None] | None = None) -> Simulation:
    """Simulate every op of ``trace`` on ``target`` with its linear layers in number format
    ``fmt`` (a name or a format object; ``None``: the target's default precision)."""
    numerics = resolve_numerics(target, fmt, trace.ops)
    check_fits(trace, target, numerics)
    sim = Simulator(target, numerics, memo=memo)
    ops = trace.ops
    results: list[OpResult] = []
    keys: Counter = Counter()
    total = len(ops)
    single = sim._cache if memo else {}
    seen: dict[int, tuple] = {}      # id → actions of each group result (kept alive here)
    for_op = numerics.for_op
    for start, stop in fusion_groups(ops, target):
        op = ops[start]
        if stop == start + 1:   # fast path: one op, memo hit (the key of Simulator.key)
            hit = single.get((for_op(op) if op.kind in MATRIX_KINDS else None, op_key(op)))
            if hit is not None:
                results.append(hit[0][0])
                keys[id(hit[1])] += 1
                continue
        group_results, actions = sim.run_group(ops[start:stop])
        if stop - start > 1:
            producer = op.name
            group_results = group_results[:1] + [replace(r, fused_into=producer) for r in group_results[1:]]
        results.extend(group_results)
        keys[id(actions)] += 1
        seen[id(actions)] = actions
        if progress is not None and len(results) % 4096 < stop - start:
            progress(start, total)
    if progress is not None:
        progress(total, total)
    totals: Counter = Counter()
    for key, count in keys.items():
        for action, value in seen[key]:
            totals[action] += value * count
    return Simulation(trace, target, numerics, sim.table, results, totals,
                      sim.distinct_programs if memo else len(results))
