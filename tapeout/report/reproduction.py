"""The reproduction runner (``tapeout report STUDY``): a study's workloads × designs × baselines
→ per-model ratios, geometric means, published ratios beside them, assumptions, a plot.

A study (:mod:`tapeout.report.study`) says what to run; every number here is simulated by
:func:`sim.simulate.simulate` except the rows marked published. The primary scope is the matrix
operations (linear layers, attention products, LM head): the GEMM layers an accelerator
simulator's benchmark holds, which is where papers' accelerator ratios come from. Ratios over
the whole forward pass (norms, softmax, activations on the SFU included) are kept beside them
(``speedup_end_to_end``, ``energy_reduction_end_to_end``), and so are those of the linear layers
alone (``speedup_linear``, ``energy_reduction_linear``): the scope of simulators whose benchmark
lists hold only the linear GEMMs (the ANT/OliVe simulator's BERT benches have no attention
products).

Ratios are baseline ÷ design of seconds (speedup) and of joules (energy reduction); a geomean
is the geometric mean of a pair's per-model ratios.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

from models.trace.ops import MATRIX_KINDS, OpKind
from tapeout.report.accuracy import accuracy_summary
from tapeout.report.study import RATIOS, Design, Study

SCOPE = "matrix ops (linear, attention products, LM head); *_end_to_end: every op"


@dataclass(frozen=True)
class Measure:
    """One design on one model: seconds and joules of the matrix ops, of the whole pass and of
    the linear layers alone."""

    seconds: float
    joules: float
    seconds_total: float
    joules_total: float
    linear_precision: str
    cycles_total: int
    seconds_linear: float
    joules_linear: float


def measure(design: Design, model: str, prefill: int, decode: int, batch: int,
            trace_cache: dict | None = None) -> Measure:
    """Simulate ``design`` on ``batch`` sequences of ``prefill`` tokens (+ ``decode`` steps)."""
    from models.trace.tracer import trace_model

    cache = trace_cache if trace_cache is not None else {}
    key = (model, prefill, decode, batch)
    if key not in cache:
        cache[key] = trace_model(model, prefill, decode, batch=batch)[0]
    return measure_trace(design, cache[key])


def measure_trace(design: Design, trace) -> Measure:
    """Simulate ``design`` on ``trace``: seconds and joules of its matrix ops and of all ops."""
    from sim.simulate import simulate
    from sim.target import load_target

    target = load_target(design.target)
    sim = simulate(trace, target, design.format)
    cycles = energy = cycles_all = energy_all = cycles_linear = energy_linear = 0.0
    for op, r in zip(trace.ops, sim.results, strict=True):
        cycles_all += r.cycles
        energy_all += r.energy_pj
        if op.kind in MATRIX_KINDS:
            cycles += r.cycles
            energy += r.energy_pj
        if op.kind is OpKind.LINEAR:
            cycles_linear += r.cycles
            energy_linear += r.energy_pj
    clock = target.clock
    return Measure(cycles / clock, energy * 1e-12, cycles_all / clock, energy_all * 1e-12,
                   sim.linear_precision, int(cycles_all), cycles_linear / clock, energy_linear * 1e-12)


def geomean(values: list[float]) -> float:
    """Geometric mean of positive ``values``."""
    return math.exp(math.fsum(math.log(v) for v in values) / len(values))


def sig6(x: float) -> float:
    return float(f"{x:.6g}")


def build(study: Study, *, models: dict[str, int] | None = None, batch: int | None = None,
          accuracy: dict | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """The report document (JSON-ready). ``models``: model → prompt tokens and ``batch``:
    sequences per pass (defaults: the study's workload); ``accuracy``: an accuracy report's
    document (``tapeout report accuracy``) or ``None``."""
    w = study.workload
    models = dict(models or w.prefill)
    batch = batch or w.batch
    traces: dict = {}
    runs: dict[tuple[str, str], Measure] = {}
    for model, prefill in models.items():
        for name in study.needed:
            if progress:
                progress(f"{model} on {name}")
            runs[name, model] = measure(study.designs[name], model, prefill, w.decode, batch, traces)
        traces.clear()
    comparisons = _comparisons(study.comparisons, models, runs)
    sensitivity = _comparisons(study.sensitivity, models, runs)
    published = study.published.model_dump()
    return {
        "schema": f"tapeout-{study.name}-report",
        "setting": {"batch": batch, "prefill": models, "decode": w.decode, "scope": SCOPE},
        "designs": {n: study.designs[n].model_dump() for n in study.needed},
        "runs": [{"design": n, "model": m, "linear_precision": r.linear_precision,
                  "seconds": sig6(r.seconds), "joules": sig6(r.joules),
                  "seconds_end_to_end": sig6(r.seconds_total), "joules_end_to_end": sig6(r.joules_total),
                  "seconds_linear": sig6(r.seconds_linear), "joules_linear": sig6(r.joules_linear)}
                 for (n, m), r in runs.items()],
        "comparisons": comparisons,
        "geomean": _geomeans(study.comparisons, comparisons, study),
        "sensitivity": {"comparisons": sensitivity,
                        "geomean": _geomeans(study.sensitivity, sensitivity, study)},
        "published": {"citation": published["citation"], "tolerance": published["tolerance"],
                      "ratios": published["ratios"]},
        "assumptions": [a.model_dump() for a in study.assumptions],
        "accuracy": accuracy_summary(accuracy),
    }


def _comparisons(pairs, models: dict[str, int], runs: dict[tuple[str, str], Measure]) -> list[dict]:
    rows = []
    for design, baseline in pairs:
        for model in models:
            d, b = runs[design, model], runs[baseline, model]
            rows.append({
                "design": design, "baseline": baseline, "model": model,
                "speedup": sig6(b.seconds / d.seconds), "energy_reduction": sig6(b.joules / d.joules),
                "speedup_end_to_end": sig6(b.seconds_total / d.seconds_total),
                "energy_reduction_end_to_end": sig6(b.joules_total / d.joules_total),
                "speedup_linear": sig6(b.seconds_linear / d.seconds_linear),
                "energy_reduction_linear": sig6(b.joules_linear / d.joules_linear)})
    return rows


def _geomeans(pairs, comparisons: list[dict], study: Study) -> list[dict]:
    means = []
    for design, baseline in pairs:
        rows = [c for c in comparisons if c["design"] == design and c["baseline"] == baseline]
        entry = {"design": design, "baseline": baseline}
        for key in RATIOS:
            entry[key] = sig6(geomean([c[key] for c in rows]))
        entry.update(published_verdict(study, entry))
        means.append(entry)
    return means


def published_verdict(study: Study, entry: dict) -> dict:
    """The published ratios of ``entry``'s (design, baseline) pair and whether its simulated
    ``speedup`` and ``energy_reduction`` are within the study's tolerance of them (``{}``: the
    paper publishes none for the pair)."""
    published = next((p for p in study.published.ratios
                      if (p.design, p.baseline) == (entry["design"], entry["baseline"])), None)
    if published is None:
        return {}
    tolerance = study.published.tolerance
    return {"published_speedup": published.speedup,
            "published_energy_reduction": published.energy_reduction,
            "within_tolerance": all(abs(entry[k] / getattr(published, k) - 1) <= tolerance
                                    for k in ("speedup", "energy_reduction"))}


# --- markdown and plot ---------------------------------------------------------------------------

def times(v: float) -> str:
    return f"{v:.2f}×"


class Ranges:
    """``{range[DESIGN/BASELINE/KEY]}`` in a study's prose: the per-model range of that ratio."""

    def __init__(self, doc: dict):
        self.doc = doc

    def __getitem__(self, key: str) -> str:
        design, baseline, ratio = key.split("/")  # checked when the study was loaded
        rows = self.doc["comparisons"] + self.doc["sensitivity"]["comparisons"]
        values = [c[ratio] for c in rows if (c["design"], c["baseline"]) == (design, baseline)]
        return f"{min(values):.2f}–{max(values):.2f}×"


def render_markdown(doc: dict, study: Study, image: str) -> str:
    s, band = doc["setting"], f"±{study.published.tolerance:.0%}".replace("%", " %")
    lines = [f"# {study.title}", "",
             f"Simulated by tapeout (`make reports` → `tapeout report {study.name}`) unless marked "
             f"**published**. Workload: one prefill of batch {s['batch']} × "
             + ", ".join(f"{m} {p} tokens" for m, p in s["prefill"].items())
             + (f", then {s['decode']} decode steps" if s["decode"] else "")
             + f". Ratios are baseline ÷ design; scope: {s['scope']}.", "",
             f"![speedup and energy reduction]({image})", "",
             "## Geometric means, next to the published ratios", "",
             "| design | baseline | speedup | energy reduction | published speedup | published energy | "
             f"within {band} | speedup (end to end) | energy (end to end) |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for g in doc["geomean"]:
        pub = "published_speedup" in g
        lines.append(f"| {g['design']} | {g['baseline']} | {times(g['speedup'])} | {times(g['energy_reduction'])} | "
                     + (f"{times(g['published_speedup'])} (published) | {times(g['published_energy_reduction'])} "
                        f"(published) | {'yes' if g['within_tolerance'] else '**no**'}" if pub else "— | — | —")
                     + f" | {times(g['speedup_end_to_end'])} | {times(g['energy_reduction_end_to_end'])} |")
    lines += ["", f"Published: {doc['published']['citation']}.", ""]
    sources = [f"- {r['design']} vs {r['baseline']}: {r['source']}" for r in doc["published"]["ratios"]
               if r.get("source")]
    lines += sources + ([""] if sources else [])
    lines += ["### Linear layers only", "",
              "The same pairs over the linear layers alone (no attention products, no LM head): the "
              "scope of a simulator whose benchmarks list only the linear GEMMs.", "",
              "| design | baseline | speedup | energy reduction | published speedup | published energy |",
              "|---|---|---:|---:|---:|---:|"]
    for g in doc["geomean"]:
        pub = "published_speedup" in g
        lines.append(f"| {g['design']} | {g['baseline']} | {times(g['speedup_linear'])} | "
                     f"{times(g['energy_reduction_linear'])} | "
                     + (f"{times(g['published_speedup'])} | {times(g['published_energy_reduction'])} |"
                        if pub else "— | — |"))
    lines += ["", "## Per model", "",
              "| design | baseline | model | speedup | energy reduction | speedup (end to end) | energy (end to end) |",
              "|---|---|---|---:|---:|---:|---:|"]
    for c in doc["comparisons"]:
        lines.append(f"| {c['design']} | {c['baseline']} | {c['model']} | {times(c['speedup'])} | "
                     f"{times(c['energy_reduction'])} | {times(c['speedup_end_to_end'])} | "
                     f"{times(c['energy_reduction_end_to_end'])} |")
    lines += ["", "## Designs", "", "| design | target | linear-layer format | why |", "|---|---|---|---|"]
    lines += [f"| {n} | `{d['target']}` | `{d['format']}` | {d['why']} |" for n, d in doc["designs"].items()]
    lines += ["", "## Assumptions", "", "| item | value | source |", "|---|---|---|"]
    lines += [f"| {a['item']} | {a['value']} | {a['source']} |" for a in doc["assumptions"]]
    lines += ["", "## Where we differ from the paper, and why", ""] + _differences(doc, study, band)
    lines += ["", "## Accuracy beside speed", ""] + accuracy_lines(doc["accuracy"], study)
    return "\n".join(lines) + "\n"


def verdict_line(entry: dict, band: str, where: str = "") -> str:
    """A bullet comparing ``entry``'s simulated ratios with the published ones (``where``: e.g.
    `` (paper mode)``)."""
    verdict = "within" if entry["within_tolerance"] else "outside"
    return (f"- {entry['design']} over {entry['baseline']}{where}: {times(entry['speedup'])} / "
            f"{times(entry['energy_reduction'])} simulated vs {times(entry['published_speedup'])} / "
            f"{times(entry['published_energy_reduction'])} published — {verdict} {band}.")


def _differences(doc: dict, study: Study, band: str) -> list[str]:
    out = [verdict_line(g, band) for g in doc["geomean"] if "published_speedup" in g]
    ranges = Ranges(doc)
    out += [f"- {text.format(range=ranges)}" for text in study.differences]
    sens = doc["sensitivity"]["geomean"]
    if sens:
        out += ["", "### Sensitivity", "", "| design | baseline | speedup | energy reduction |",
                "|---|---|---:|---:|"]
        out += [f"| {g['design']} | {g['baseline']} (`{doc['designs'][g['baseline']]['format']}`) | "
                f"{times(g['speedup'])} | {times(g['energy_reduction'])} |" for g in sens]
    return out


def accuracy_lines(acc: dict | None, study: Study) -> list[str]:
    if acc is None:
        return ["No accuracy report was available; run `tapeout report accuracy` first."]
    ppl = acc["perplexity"]
    base = ppl.get("fp32")
    lines = [f"Perplexity of {acc['model']} per format, {acc['tokens']} tokens, measured by tapeout "
             f"(source: {acc['source']}).", "",
             "| format | perplexity | vs fp32 |", "|---|---:|---:|"]
    for name, p in ppl.items():
        rel = f"{p / base - 1:+.2%}" if base else "—"
        lines.append(f"| `{name}` | {p:.4g} | {rel} |")
    return lines + ["", study.accuracy.published]


def plot(doc: dict, study: Study) -> bytes:
    """Grouped bars: geomean speedup and energy reduction per comparison, published marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["geomean"]
    labels = [f"{g['design']}\nvs {g['baseline']}" for g in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    ax.bar([i - 0.2 for i in x], [g["speedup"] for g in rows], 0.4, label="speedup (simulated)", color="#4c72b0")
    ax.bar([i + 0.2 for i in x], [g["energy_reduction"] for g in rows], 0.4,
           label="energy reduction (simulated)", color="#dd8452")
    for i, g in enumerate(rows):
        if "published_speedup" in g:
            ax.plot([i - 0.2], [g["published_speedup"]], "k*", ms=11)
            ax.plot([i + 0.2], [g["published_energy_reduction"]], "k*", ms=11)
    ax.plot([], [], "k*", ms=11, label=f"published ({study.published.label})")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("× over the baseline (geomean over models)")
    ax.set_title(study.plot_title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
