"""The report's figures (matplotlib, Agg backend): latency breakdown, energy breakdown, roofline,
and the normalised comparison chart of ``tapeout compare``. Each returns PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sim.simulate import Simulation  # noqa: E402

_META = {"Software": None}   # no version stamp: identical inputs → identical PNG bytes


def png(fig) -> bytes:
    """``fig`` as PNG bytes (closed afterwards)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata=_META)
    plt.close(fig)
    return buf.getvalue()


def _title(doc: dict) -> str:
    m, t = doc["model"], doc["target"]
    return f"{m['name']} (prefill {m['prefill']}, decode {m['decode']}) on {t['name']} — simulated"


def latency_breakdown(doc: dict) -> bytes:
    """Seconds per op kind, split into prefill and decode."""
    by_kind = doc["breakdown"]["kind"]
    kinds = sorted(by_kind)
    pre = [by_kind[k].get("prefill_seconds", 0.0) for k in kinds]
    dec = [by_kind[k].get("decode_seconds", 0.0) for k in kinds]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(kinds) + 1.5))
    y = range(len(kinds))
    ax.barh(y, pre, label="prefill", color="#4c72b0")
    ax.barh(y, dec, left=pre, label="decode", color="#dd8452")
    ax.set_yticks(list(y), kinds)
    ax.set_xlabel("seconds")
    ax.set_title("latency by operation kind\n" + _title(doc), fontsize=9)
    ax.legend()
    return png(fig)


def energy_breakdown(doc: dict) -> bytes:
    """Joules per memory level / component (DRAM, each SRAM buffer, MACs, SFU, static)."""
    levels = doc["breakdown"]["memory"]
    names = sorted(levels, key=lambda k: -levels[k]["energy_joules"])
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1.5))
    ax.barh(range(len(names)), [levels[n]["energy_joules"] for n in names], color="#55a868")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("joules")
    ax.set_title("energy by component\n" + _title(doc), fontsize=9)
    return png(fig)


def roofline(doc: dict, sim: Simulation) -> bytes:
    """Every op at (ops per off-chip byte, achieved ops/s) under the target's roofs."""
    clock = doc["target"]["clock_hz"]
    peak = 2 * doc["target"]["peak_macs_per_cycle"] * clock
    bw = doc["target"]["offchip_bytes_per_second"]
    eff = doc["target"]["memory_efficiency"]
    points: dict[str, set] = {}
    distinct = {(op.kind.value, id(r)): r for op, r in zip(sim.trace.ops, sim.results, strict=True)}
    for (kind, _), r in sorted(distinct.items(), key=lambda item: item[0][0]):
        work = 2 * r.macs if r.macs else r.vector_ops
        if r.cycles <= 0 or r.bytes_offchip <= 0 or work <= 0:
            continue
        points.setdefault(kind, set()).add((work / r.bytes_offchip, work * clock / r.cycles))
    fig, ax = plt.subplots(figsize=(7, 5))
    xs = [x for pts in points.values() for x, _ in pts] or [1.0]
    lo, hi = min(xs + [peak / bw]) / 4, max(xs + [peak / bw]) * 4
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(grid, [min(peak, bw * x) for x in grid], "k-", label="peak roofs")
    ax.plot(grid, [min(peak, bw * eff * x) for x in grid], "k--", label=f"achieved bandwidth ({eff:g})")
    for kind in sorted(points):
        pts = sorted(points[kind])
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=9, label=kind)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operations per off-chip byte (MAC = 2 ops; SFU element-ops)")
    ax.set_ylabel("operations per second")
    ax.set_title("roofline, every op\n" + _title(doc), fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return png(fig)


def comparison(rows: list[dict]) -> bytes:
    """Time and energy of each target normalised to the first (lower is better)."""
    names = [r["target"] for r in rows]
    t0, e0 = rows[0]["seconds"], rows[0]["energy_joules"]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [r["seconds"] / t0 for r in rows], 0.4, label="time", color="#4c72b0")
    ax.bar([i + 0.2 for i in x], [r["energy_joules"] / e0 for r in rows], 0.4, label="energy", color="#dd8452")
    ax.set_xticks(list(x), names, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel(f"relative to {names[0]} (log)")
    ax.set_title(f"{rows[0]['model']}: time and energy normalised to {names[0]} — simulated", fontsize=9)
    ax.legend()
    return png(fig)
