"""The sweep's human outputs: ``pareto.png`` (latency vs energy, area as marker size, format as
colour, the front drawn) and ``sweep.md`` (counts, the Pareto-optimal points, each axis's
effect on latency and energy, and how area and accuracy were obtained)."""

from __future__ import annotations

import math
from collections import defaultdict

from tapeout.sweep.evaluate import STATUSES
from tapeout.sweep.spec import Sweep
from tapeout.sweep.table import pareto_front

AREA_NOTE = ("`area_mm2` is an estimate: NAND2-equivalents of the target's PE from `tapeout synth` "
             "(generic CMOS mapping, transistors / 4) × the PE count × a NAND2 cell area, plus the "
             "buffers at an SRAM area per KiB, both for the technology node of the target's energy "
             "table (`hw/area_nodes.yaml`, sources there); empty where the design has no synthesis "
             "data (GPUs, FPGAs, baselines without RTL).")


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def sensitivities(sweep: Sweep, rows: list[dict]) -> list[dict]:
    """Per axis and value: the geometric mean of latency and energy over the ``ok`` points with
    that value, relative to the axis's first value (a main effect; other axes averaged over)."""
    out = []
    for axis in sweep.axes:
        groups: dict = defaultdict(list)
        for r in rows:
            if r["status"] == "ok":
                groups[r[axis]].append(r)
        order = list(dict.fromkeys(r[axis] for r in rows))
        present = [v for v in order if groups.get(v)]
        if len(present) < 2:
            continue
        ref = present[0]
        ref_lat = _geomean([r["latency_s"] for r in groups[ref]])
        ref_en = _geomean([r["energy_j"] for r in groups[ref]])
        for value in present:
            lat = _geomean([r["latency_s"] for r in groups[value]])
            en = _geomean([r["energy_j"] for r in groups[value]])
            out.append({"axis": axis, "value": value, "points": len(groups[value]),
                        "latency_vs_first": lat / ref_lat, "energy_vs_first": en / ref_en})
    return out


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(sweep: Sweep, rows: list[dict], computed: int) -> str:
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    front = pareto_front(rows)
    lines = [f"# Sweep {sweep.source}", "",
             f"Base target `{sweep.base}`; {len(rows)} points ("
             + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
             + f"); {computed} computed in this run, the rest from the cache. Simulated by tapeout.",
             "", "![Pareto front](pareto.png)", "",
             "## Pareto-optimal points (latency and energy)", ""]
    cols = ["point", *sweep.axes, "latency_s", "energy_j", "tokens_per_s", "area_mm2", "perplexity"]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(rows[i][c]) for c in cols) + " |" for i in front]
    lines += ["", "## Sensitivity of each axis", "",
              "Geometric mean over the `ok` points with each value, relative to the axis's first value.", ""]
    sens = sensitivities(sweep, rows)
    if sens:
        lines += ["| axis | value | points | latency × | energy × |", "|---|---|---:|---:|---:|"]
        lines += [f"| {s['axis']} | {_fmt(s['value'])} | {s['points']} | {s['latency_vs_first']:.3f} | "
                  f"{s['energy_vs_first']:.3f} |" for s in sens]
    else:
        lines.append("No axis has two values with `ok` points.")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["", "## Points without a result", "", "| point | status | reason |", "|---:|---|---|"]
        lines += [f"| {r['point']} | {r['status']} | {r['reason']} |" for r in failed]
    lines += ["", "## How the columns are obtained", "",
              "Latency, energy, utilisation and traffic: `tapeout simulate` of each point's complete "
              "target (definitions in `tapeout/sweep/evaluate.py`).", "", AREA_NOTE]
    if sweep.accuracy:
        lines += ["", f"`perplexity`: {sweep.accuracy.model} under the point's format over "
                      f"{sweep.accuracy.tokens} tokens of `pydoc_data.topics` (measured, cached)."]
    return "\n".join(lines) + "\n"


def plot(sweep: Sweep, rows: list[dict]) -> bytes:
    """``pareto.png``: every ``ok`` point, latency vs energy (log-log), marker area ∝ estimated
    area (constant without one), colour per format, the front as a line."""
    import matplotlib.pyplot as plt

    from tapeout.report.plots import png

    ok = [r for r in rows if r["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    formats = list(dict.fromkeys(str(r.get("format") or "default") for r in ok)) if "format" in sweep.axes \
        else ["all points"]
    areas = [r["area_mm2"] for r in ok if r["area_mm2"]]
    scale = 300 / max(areas) if areas else 0
    for i, name in enumerate(formats):
        mine = [r for r in ok if name == "all points" or str(r.get("format") or "default") == name]
        sizes = [max(12.0, r["area_mm2"] * scale) if r["area_mm2"] and scale else 30.0 for r in mine]
        ax.scatter([r["latency_s"] for r in mine], [r["energy_j"] for r in mine], s=sizes,
                   color=f"C{i % 10}", alpha=0.7, label=name, edgecolors="none")
    front = [rows[i] for i in pareto_front(rows)]
    if front:
        ax.plot([r["latency_s"] for r in front], [r["energy_j"] for r in front], "k--", lw=1,
                marker="o", markerfacecolor="none", markersize=14, label="Pareto front")
    if ok:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no point has a result (see sweep.md)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("energy (J)")
    ax.set_title(f"{sweep.base}: {len(ok)} points" + (" (marker area ∝ chip area)" if areas else ""),
                 fontsize=10)
    if ok:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)
