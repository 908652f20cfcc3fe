"""The trace digest: each distinct op group once with its count, and what is simulated from it
equals simulating every op of the trace (per-layer formats, fusion, digested traces)."""

from __future__ import annotations

import pickle

import pytest

from models.trace.tracer import trace_model
from sim.digest import digest, digested, fusion_groups
from sim.simulate import simulate
from sim.target import load_target
from tapeout.sweep.evaluate import evaluate, metrics


@pytest.fixture(scope="module")
def trace():
    return trace_model("smollm2-135m", 24, 6)[0]


def test_digest_counts_every_group_once(trace):
    target = load_target("a100")                 # fuses: groups span several ops
    d = digest(trace, target)
    groups = list(fusion_groups(trace.ops, target))
    assert sum(d.counts) == len(groups) == len(d.starts)
    assert list(d.starts) == [start for start, _ in groups]
    # every group is its entry's representative, up to what the key leaves out (name, step, layer)
    for (start, stop), entry in zip(groups, d.entries, strict=True):
        first = d.groups[entry]
        assert [(o.kind, o.m, o.k, o.n, o.inputs, o.outputs, o.phase) for o in trace.ops[start:stop]] \
            == [(o.kind, o.m, o.k, o.n, o.inputs, o.outputs, o.phase) for o in first]
    assert len(d.groups) < len(groups) / 3
    assert digest(trace, target) is d             # built once per fusion set


@pytest.mark.parametrize(("target", "fmt"), [("flightllm-u280", "flightllm-w4s"),
                                             ("a100", None), ("olive-systolic", "olive-w4a4")])
def test_digested_simulation_equals_every_op(trace, target, fmt):
    """Per-layer formats (flightllm-w4s: q/k sparse, the rest dense) key linear layers by name,
    so equal shapes with different numerics stay apart."""
    spec = load_target(target)
    fast = simulate(trace, spec, fmt)
    full = simulate(trace, spec, fmt, memo=False)
    assert fast.results == full.results
    assert fast.actions == full.actions
    assert fast.cycles == full.cycles == sum(r.cycles for r in full.results)
    assert fast.energy_joules == full.energy_joules      # bit for bit (exact sums)
    for phase, totals in fast.phase_totals().items():
        ops = [r for op, r in zip(trace.ops, full.results, strict=True) if op.phase is phase]
        assert totals["cycles"] == sum(r.cycles for r in ops)
        assert totals["bytes"] == sum(r.bytes_offchip for r in ops)
        assert totals["ops"] == len(ops)


def test_a_digested_trace_gives_the_same_row_as_the_trace(trace):
    """What a sweep ships to its workers: no ops, the same totals."""
    spec = load_target("int8-systolic")
    small = pickle.loads(pickle.dumps(digested(trace, [spec])))
    assert len(pickle.dumps(small)) < len(pickle.dumps(trace)) / 5
    doc = spec.model_dump(mode="json")
    assert evaluate(doc, "int8", small) == evaluate(doc, "int8", trace)
    assert metrics(simulate(small, spec, "int8")) == metrics(simulate(trace, spec, "int8"))
    with pytest.raises(TypeError, match="no per-op results"):
        _ = simulate(small, spec).results
    other = load_target("a100")                   # another fusion set: not digested
    with pytest.raises(ValueError, match="digested for fusion sets"):
        simulate(small, other)
