"""The ``report.json`` document (schema: docs/report-format.md, version ``SCHEMA_VERSION``).

Everything in it is simulated by tapeout (``provenance``); the energy entries used are listed
with their published sources. Same inputs → byte-identical text (:func:`dumps_report`).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

from models.trace.ops import Phase
from sim.simulate import Simulation

SCHEMA = "tapeout-report"
SCHEMA_VERSION = 1


def _r(x: float, digits: int = 6) -> float:
    """Round for a stable, readable document (floats are derived, not measured)."""
    return float(f"{x:.{digits}g}") if x else 0.0


def _level(action: str) -> str:
    if action.startswith("dram."):
        return "dram"
    if action.startswith("sram."):
        return ".".join(action.split(".")[:2])
    if action.startswith("mac."):
        return "compute"
    if action.startswith("sfu."):
        return "sfu"
    return action.split(".")[0]


OP_FIELDS = ("name", "kind", "phase", "layer", "step", "m", "k", "n", "batch", "macs", "cycles",
             "compute_cycles", "stall_cycles", "bytes_offchip", "bytes_read", "bytes_written",
             "energy_pj", "fused_into")


def _result_fields(r) -> str:
    return (f'"macs":{int(r.macs)},"cycles":{r.cycles},"compute_cycles":{r.compute_cycles},'
            f'"stall_cycles":{r.stall_cycles},"bytes_offchip":{r.bytes_offchip},'
            f'"bytes_read":{r.bytes_read},"bytes_written":{r.bytes_written},'
            f'"energy_pj":{json.dumps(round(r.energy_pj, 3))},"fused_into":{json.dumps(r.fused_into)}}}')


def op_lines(sim: Simulation) -> list[str]:
    """One compact JSON object per trace op, fields in ``OP_FIELDS`` order. Text is built per
    distinct result and per op name once (the same bytes ``json.dumps`` would give)."""
    names: dict[str, str] = {}
    tails: dict[int, str] = {}
    lines = []
    for op, r in zip(sim.trace.ops, sim.results, strict=True):
        name = names.get(op.name)
        if name is None:
            name = names[op.name] = json.dumps(op.name)
        tail = tails.get(id(r))
        if tail is None:
            tail = tails[id(r)] = _result_fields(r)
        layer = "null" if op.layer is None else op.layer
        m = "null" if op.m is None else op.m
        k = "null" if op.k is None else op.k
        n = "null" if op.n is None else op.n
        b = "null" if op.batch is None else op.batch
        lines.append(f'{{"name":{name},"kind":"{op.kind.value}","phase":"{op.phase.value}",'
                     f'"layer":{layer},"step":{op.step},"m":{m},"k":{k},"n":{n},"batch":{b},{tail}')
    return lines


def token_rates(trace, clock: float, phase: dict) -> tuple[float, float, float]:
    """(decode seconds per token, tokens per second, joules per token) from per-phase sums
    (``phase[p]["cycles"]``, ``["energy_pj"]``): each decode step yields one token per sequence
    of the batch; a prefill-only run counts its prompt tokens (0 s per decode token)."""
    energy = sum(phase[p]["energy_pj"] for p in Phase) * 1e-12
    if trace.decode:
        tokens = trace.decode * trace.batch
        dec_s = phase[Phase.DECODE]["cycles"] / clock
        return (dec_s / trace.decode, tokens / dec_s if dec_s else math.inf,
                phase[Phase.DECODE]["energy_pj"] * 1e-12 / tokens)
    tokens = trace.prefill * trace.batch
    pre_s = phase[Phase.PREFILL]["cycles"] / clock
    return 0.0, tokens / pre_s if pre_s else math.inf, energy / tokens


def build_report(sim: Simulation) -> dict:
    """The report document of one simulation."""
    trace, target, clock = sim.trace, sim.target, sim.clock
    phase = {p: defaultdict(float) for p in Phase}
    kinds: dict[str, defaultdict] = defaultdict(lambda: defaultdict(float))
    layers: dict[str, defaultdict] = defaultdict(lambda: defaultdict(float))
    ops = trace.ops
    by_id = {id(r): r for r in sim.results}
    counts = Counter(zip([op.phase for op in ops], [op.kind.value for op in ops],
                         [op.layer for op in ops], map(id, sim.results), strict=True))
    for (ph, kind, layer, rid), count in counts.items():
        r = by_id[rid]
        for bucket in (phase[ph], kinds[kind], layers["none" if layer is None else str(layer)]):
            bucket["cycles"] += r.cycles * count
            bucket["stall_cycles"] += r.stall_cycles * count
            bucket["energy_pj"] += r.energy_pj * count
            bucket["bytes_offchip"] += r.bytes_offchip * count
            bucket["macs"] += r.macs * count
            bucket["ops"] += count
        kinds[kind][f"{ph.value}_cycles"] += r.cycles * count
        if r.fused_into is not None:
            kinds[kind]["fused_ops"] += count
    cycles = sum(phase[p]["cycles"] for p in Phase)
    seconds = cycles / clock
    energy = sum(phase[p]["energy_pj"] for p in Phase) * 1e-12
    pre_s = phase[Phase.PREFILL]["cycles"] / clock
    per_token_s, tps, per_token_j = token_rates(trace, clock, phase)
    peak = target.compute.precisions[sim.linear_precision].macs_per_cycle
    peak_bytes = target.peak_bandwidth / clock

    def summary(b: dict, *, kind: bool = False) -> dict:
        """One bucket; an op-kind bucket also carries per-phase seconds and its fused ops, and
        has no utilisation when it holds fused ops (their cycles overlap their producer's)."""
        c = b["cycles"]
        doc = {"ops": int(b["ops"]), "cycles": int(c), "seconds": _r(c / clock),
               "stall_cycles": int(b["stall_cycles"]), "energy_joules": _r(b["energy_pj"] * 1e-12),
               "bytes_offchip": int(b["bytes_offchip"]), "macs": int(b["macs"]),
               "compute_utilization": _r(b["macs"] / (c * peak)) if c else 0.0,
               "bandwidth_utilization": _r(b["bytes_offchip"] / (c * peak_bytes)) if c else 0.0}
        if kind:
            doc |= {f"{p.value}_seconds": _r(b[f"{p.value}_cycles"] / clock) for p in Phase}
            doc["fused_ops"] = int(b["fused_ops"])
            if b["fused_ops"]:
                doc["compute_utilization"] = doc["bandwidth_utilization"] = None
        return doc

    pj = sim.table.entries
    memory: dict[str, dict] = defaultdict(lambda: {"energy_joules": 0.0})
    for action, count in sorted(sim.actions.items()):
        level = memory[_level(action)]
        unit = pj[action].per if action in pj else "count"
        level[f"{action.split('.')[-1]}_{unit}s"] = level.get(f"{action.split('.')[-1]}_{unit}s", 0) + count
        level["energy_joules"] += count * pj[action].pj * 1e-12
    static_j = target.static_watts * seconds
    memory["static"] = {"energy_joules": static_j, "watts": target.static_watts}
    memory = {k: {f: _count(v) if f != "energy_joules" and f != "watts" else _r(v)
                  for f, v in sorted(d.items())} for k, d in sorted(memory.items())}
    used = sorted(a for a in sim.actions if a in pj)
    all_ = summary({f: sum(phase[p][f] for p in Phase) for f in ("cycles", "stall_cycles",
                    "energy_pj", "bytes_offchip", "macs", "ops")})
    return {
        "format": SCHEMA, "version": SCHEMA_VERSION,
        "provenance": "simulated by tapeout (cycle engine + energy tables); no published figure is reported as simulated",
        "model": {**trace.model, "prefill": trace.prefill, "decode": trace.decode, "batch": trace.batch},
        "target": {"name": target.name, "description": target.description, "kind": target.kind,
                   "clock_hz": target.clock, "compute_model": target.compute.model,
                   "format": sim.numerics.format,
                   "linear_precision": sim.linear_precision,
                   "lm_head_precision": sim.numerics.lm_head.precision,
                   "attention_precision": sim.numerics.attention.precision,
                   "peak_macs_per_cycle": peak, "offchip_bytes_per_second": target.peak_bandwidth,
                   "memory_efficiency": target.memory.efficiency,
                   "static_watts": target.static_watts, "sources": target.sources,
                   "notes": target.notes},
        "totals": {"cycles": int(cycles), "seconds": _r(seconds), "prefill_seconds": _r(pre_s),
                   "decode_seconds_per_token": _r(per_token_s),
                   "tokens_per_second": _r(tps) if math.isfinite(tps) else None,
                   "energy_joules": _r(energy), "energy_per_token_joules": _r(per_token_j),
                   "average_power_watts": _r(energy / seconds) if seconds else 0.0},
        "utilization": {"compute": all_["compute_utilization"],
                        "bandwidth": all_["bandwidth_utilization"],
                        "prefill": {"compute": summary(phase[Phase.PREFILL])["compute_utilization"],
                                    "bandwidth": summary(phase[Phase.PREFILL])["bandwidth_utilization"]},
                        "decode": {"compute": summary(phase[Phase.DECODE])["compute_utilization"],
                                   "bandwidth": summary(phase[Phase.DECODE])["bandwidth_utilization"]}},
        "phases": {p.value: summary(phase[p]) for p in Phase},
        "breakdown": {"kind": {k: summary(v, kind=True) for k, v in sorted(kinds.items())},
                      "layer": {k: summary(layers[k]) for k in sorted(layers, key=_layer_order)},
                      "memory": memory},
        "energy_table": {"name": sim.table.name,
                         "entries": {a: {"pj": pj[a].pj, "per": pj[a].per, "source": pj[a].source,
                                         "node": pj[a].node, "scaling": pj[a].scaling} for a in used}},
        "simulation": {"ops": len(sim.results), "distinct_programs": sim.distinct_programs},
    }


def _count(value: float) -> int | float:
    """An action count: exact integer when whole (MACs, bits), else 6 significant digits."""
    return int(value) if float(value).is_integer() else _r(value)


def _layer_order(key: str) -> tuple[int, int]:
    return (1, 0) if key == "none" else (0, int(key))


def dumps_report(doc: dict, sim: Simulation) -> str:
    """Stable text: sorted keys, two-space indent, then ``ops`` last, one op per line."""
    text = json.dumps(doc, indent=2, sort_keys=True, allow_nan=False)
    ops = ",\n    ".join(op_lines(sim))
    return text[:-2] + ',\n  "ops": [\n    ' + ops + "\n  ]\n}\n"
