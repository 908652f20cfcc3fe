"""A trace reduced to what its simulation depends on: each distinct op group once, with a count.

Simulating llama2-7b at 512 + 512 tokens means 280 k ops but only ≈ 2 000 distinct groups (a
matrix op with the element-wise ops the target fuses into it, or one op): every decode step
repeats the same linear layers, and attention differs only by its context. A group's program
depends on its ops' kinds and shapes and, for a linear layer, on the layer's number format
(looked up by module name), so a group is keyed by (phase, the linear head's name, the ops'
shapes) — :func:`op_key` — and the simulation costs one lookup per distinct
group instead of one per op. The digest depends on the trace and on which op kinds the target
fuses; it is built once per (trace, fusion set) and kept in ``trace.derived``, which travels
with the trace (a sweep builds it before sending the trace to its workers). Traces are never
changed after they are made; the cache is keyed by the fusion set and the number of ops.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from models.trace.ops import MATRIX_KINDS, Op, OpKind, Phase, Trace
from spec.schema import TargetSpec

_PRODUCERS = {"softmax": {OpKind.ATTN_SCORE}, "activation": {OpKind.LINEAR},
              "eltwise": {OpKind.LINEAR}, "rope": {OpKind.LINEAR}}


@dataclass(frozen=True)
class TraceDigest:
    """``groups[i]``: the ops of the first group with key ``i``; ``counts[i]``: how many groups
    of the trace have it; ``phases[i]``: its phase. ``starts``/``entries``: in trace order,
    where each group starts and its key's index (to expand results back to every op)."""

    groups: tuple[tuple[Op, ...], ...]
    counts: tuple[int, ...]
    phases: tuple[Phase, ...]
    starts: array
    entries: array


@dataclass(frozen=True)
class WeightShapes:
    """The weight matrices of a trace: each linear layer's and LM head's (K, N) by module name,
    and the parameters of the prefill's linear layers and LM head (what a model's parameter
    count holds besides embeddings and norms)."""

    shapes: dict[str, tuple[OpKind, int, int]]
    prefill_linear: int
    prefill_lm_head: int


def op_key(op: Op) -> tuple:
    """Everything a program depends on (kind and shapes), nothing it does not (name, layer, step);
    with the numerics of a matrix op (:meth:`sim.simulate.Simulator.key`) it identifies the program."""
    return (op.kind, op.m, op.k, op.n, op.batch, op.heads, op.kv_heads, op.inputs, op.outputs)


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


@dataclass(frozen=True)
class DigestedTrace:
    """Everything simulating a trace needs, without its ops: the header of the trace, its weight
    shapes and its digests for some fusion sets (each without the per-op index). What a sweep
    sends its workers: ≈ 2 000 ops instead of 280 k (llama2-7b 512 + 512), so a worker starts
    in milliseconds. A simulation of it has totals but no per-op results."""

    model: dict
    prefill: int
    decode: int
    batch: int
    weights: WeightShapes
    digests: dict[frozenset[str], TraceDigest]

    @property
    def name(self) -> str:
        return self.model["name"]


def digested(trace: Trace, targets) -> DigestedTrace:
    """``trace`` digested for the fusion sets of ``targets``."""
    digests = {}
    for target in targets:
        d = digest(trace, target)
        digests[frozenset(target.compute.fusion)] = TraceDigest(
            d.groups, d.counts, d.phases, array("q"), array("q"))
    return DigestedTrace(trace.model, trace.prefill, trace.decode, trace.batch,
                         weight_shapes(trace), digests)


def digest(trace: Trace | DigestedTrace, target: TargetSpec) -> TraceDigest:
    """The digest of ``trace`` for ``target`` (its fusion groups: :func:`fusion_groups`)."""
    fusion = frozenset(target.compute.fusion)
    if isinstance(trace, DigestedTrace):
        if fusion not in trace.digests:
            raise ValueError(f"{trace.name} was digested for fusion sets "
                             f"{sorted(map(sorted, trace.digests))}, not {sorted(fusion)}")
        return trace.digests[fusion]
    cache_key = ("digest", fusion, len(trace.ops))
    hit = trace.derived.get(cache_key)
    if hit is not None:
        return hit
    ops = trace.ops
    index: dict[tuple, int] = {}
    first: list[tuple[Op, ...]] = []
    counts: list[int] = []
    starts, entries = array("q"), array("q")
    linear = OpKind.LINEAR
    for start, stop in fusion_groups(ops, target):
        head = ops[start]
        if stop == start + 1:
            key = (head.phase, head.name if head.kind is linear else None, op_key(head))
        else:
            key = (head.phase, head.name if head.kind is linear else None,
                   *map(op_key, ops[start:stop]))
        i = index.get(key)
        if i is None:
            i = index[key] = len(first)
            first.append(tuple(ops[start:stop]))
            counts.append(0)
        counts[i] += 1
        starts.append(start)
        entries.append(i)
    result = TraceDigest(tuple(first), tuple(counts), tuple(g[0].phase for g in first), starts,
                         entries)
    trace.derived[cache_key] = result
    return result


def weight_shapes(trace: Trace | DigestedTrace) -> WeightShapes:
    """The weight shapes of ``trace`` (:class:`WeightShapes`), computed once per trace."""
    if isinstance(trace, DigestedTrace):
        return trace.weights
    cache_key = ("weights", len(trace.ops))
    hit = trace.derived.get(cache_key)
    if hit is not None:
        return hit
    shapes: dict[str, tuple[OpKind, int, int]] = {}
    prefill = {OpKind.LINEAR: 0, OpKind.LM_HEAD: 0}
    for op in trace.ops:
        if op.kind in prefill:
            shapes.setdefault(op.name, (op.kind, op.k, op.n))
            if op.phase is Phase.PREFILL and op.step == 0:
                prefill[op.kind] += op.k * op.n
    result = WeightShapes(shapes, prefill[OpKind.LINEAR], prefill[OpKind.LM_HEAD])
    trace.derived[cache_key] = result
    return result

