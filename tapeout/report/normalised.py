"""The normalised reproduction runner: every design's time and energy against one reference
design, per model and mode, for a study with ``reference`` (``tapeout report STUDY``).

Two modes (:class:`tapeout.report.study.Study`):

- ``paper``: the paper's own simulator workload, the linear GEMMs of every layer on one batch of
  tokens (:func:`models.trace.gemms.linear_gemm_trace`), when the study gives ``paper_workload``;
- ``full``: the whole model as tapeout traces it (``workload``): attention, norms, softmax, the
  real FFN widths and the LM head, every op counted.

Every number is simulated by :func:`sim.simulate.simulate`; published ratios are shown beside
them, marked. ``time_vs_<ref>`` and ``energy_vs_<ref>`` (``<ref>``: the reference design's
number format, e.g. ``time_vs_fp16``) are a design's seconds and joules over the reference's on
the same model and mode (below 1: faster / less energy); a geomean is the geometric mean over
the models; a comparison's ratios are baseline ÷ design. ``rows`` and ``geomean`` hold the
designs of the comparisons and the reference; designs only a ``sensitivity`` pair uses are
reported under ``sensitivity``.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from tapeout.report.accuracy import accuracy_summary
from tapeout.report.reproduction import (
    Measure,
    Ranges,
    accuracy_lines,
    geomean,
    measure_trace,
    published_verdict,
    sig6,
    times,
    verdict_line,
)
from tapeout.report.study import Study

MODES = {"paper": "the paper's simulator workload: linear GEMMs only",
         "full": "the whole model as tapeout traces it: every op"}


def _traces(study: Study, models: dict[str, int], batch: int):
    """(mode, model, trace maker) for every run, in report order."""
    from models.trace.gemms import linear_gemm_trace
    from models.trace.tracer import trace_model

    p = study.paper_workload
    for model, prefill in models.items():
        if p is not None:
            yield "paper", model, lambda m=model: linear_gemm_trace(m, p.tokens, p.mlp_ratio)
        yield "full", model, lambda m=model, t=prefill: trace_model(m, t, study.workload.decode,
                                                                    batch=batch)[0]


def build(study: Study, *, models: dict[str, int] | None = None, batch: int | None = None,
          accuracy: dict | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """The report document (JSON-ready); arguments as :func:`tapeout.report.reproduction.build`."""
    ref = study.reference
    time_key, energy_key = _keys(study)
    models = dict(models or study.workload.prefill)
    batch = batch or study.workload.batch
    runs: dict[tuple[str, str, str], Measure] = {}
    for mode, model, make in _traces(study, models, batch):
        trace = make()
        for name in study.needed:
            if progress:
                progress(f"{mode}: {model} on {name}")
            runs[mode, model, name] = measure_trace(study.designs[name], trace)
    modes = [m for m in MODES if any(k[0] == m for k in runs)]
    main = [n for n in study.needed if n == ref or any(n in pair for pair in study.comparisons)]
    extra = [n for n in study.needed if n not in main]
    rows = [_row(runs, mode, model, name, ref, time_key, energy_key)
            for (mode, model, name) in runs]
    return {
        "schema": f"tapeout-{study.name}-report",
        "reference": ref,
        "setting": {"modes": {m: MODES[m] for m in modes},
                    "paper": study.paper_workload.model_dump() if study.paper_workload else None,
                    "full": {"batch": batch, "prefill": models, "decode": study.workload.decode}},
        "designs": {n: study.designs[n].model_dump() for n in study.needed},
        "rows": [r for r in rows if r["design"] in main],
        "geomean": _geomeans(rows, main, modes, time_key, energy_key),
        "comparisons": _comparisons(study, study.comparisons, runs, models, modes),
        "sensitivity": {"rows": [r for r in rows if r["design"] in extra],
                        "geomean": _geomeans(rows, extra, modes, time_key, energy_key),
                        "comparisons": _comparisons(study, study.sensitivity, runs, models, modes)},
        "published": study.published.model_dump(),
        "assumptions": [a.model_dump() for a in study.assumptions],
        "accuracy": accuracy_summary(accuracy),
    }


def _keys(study: Study) -> tuple[str, str]:
    """``time_vs_<f>``, ``energy_vs_<f>``: ``f`` the reference design's number format."""
    label = study.designs[study.reference].format
    return f"time_vs_{label}", f"energy_vs_{label}"


def _row(runs, mode, model, name, ref, time_key, energy_key) -> dict:
    r, base = runs[mode, model, name], runs[mode, model, ref]
    return {"design": name, "model": model, "mode": mode,
            time_key: sig6(r.seconds_total / base.seconds_total),
            energy_key: sig6(r.joules_total / base.joules_total),
            "cycles": r.cycles_total, "seconds": sig6(r.seconds_total),
            "energy_j": sig6(r.joules_total), "linear_precision": r.linear_precision}


def _geomeans(rows, names, modes, time_key, energy_key) -> list[dict]:
    out = []
    for mode in modes:
        for name in names:
            mine = [x for x in rows if (x["design"], x["mode"]) == (name, mode)]
            out.append({"design": name, "mode": mode,
                        time_key: sig6(geomean([x[time_key] for x in mine])),
                        energy_key: sig6(geomean([x[energy_key] for x in mine]))})
    return out


def _comparisons(study: Study, pairs, runs, models, modes) -> list[dict]:
    """Per mode and pair: geomean over models of baseline ÷ design seconds and joules, with the
    published ratio and the verdict beside the paper mode's (or the only mode's)."""
    out = []
    verdict_mode = modes[0]
    for mode in modes:
        for design, baseline in pairs:
            per_model = [(runs[mode, m, baseline], runs[mode, m, design]) for m in models]
            entry = {"design": design, "baseline": baseline, "mode": mode,
                     "speedup": sig6(geomean([b.seconds_total / d.seconds_total for b, d in per_model])),
                     "energy_reduction": sig6(geomean([b.joules_total / d.joules_total for b, d in per_model])),
                     "per_model": {m: {"speedup": sig6(b.seconds_total / d.seconds_total),
                                       "energy_reduction": sig6(b.joules_total / d.joules_total)}
                                   for m, (b, d) in zip(models, per_model, strict=True)}}
            if mode == verdict_mode:
                entry.update(published_verdict(study, entry))
            out.append(entry)
    return out


# --- markdown and plot ---------------------------------------------------------------------------

def _ranges(doc: dict) -> Ranges:
    """``{range[D/B/KEY]}`` over the per-model ratios of the first mode's comparisons."""
    mode = next(iter(doc["setting"]["modes"]))

    def per_model(comparisons):
        return [{"design": c["design"], "baseline": c["baseline"], **v}
                for c in comparisons if c["mode"] == mode for v in c["per_model"].values()]

    return Ranges({"comparisons": per_model(doc["comparisons"]),
                    "sensitivity": {"comparisons": per_model(doc["sensitivity"]["comparisons"])}})


def render_markdown(doc: dict, study: Study, image: str) -> str:
    ref, s = doc["reference"], doc["setting"]
    time_key, energy_key = _keys(study)
    band = f"±{study.published.tolerance:.0%}".replace("%", " %")
    full = s["full"]
    lines = [f"# {study.title}", "",
             f"Simulated by tapeout (`make reports` → `tapeout report {study.name}`) unless marked "
             f"**published**. Every design's time and energy are normalised to `{ref}` "
             f"(`{doc['designs'][ref]['target']}`) on the same model and mode; below 1 is faster "
             "/ less energy.", ""]
    if s["paper"]:
        p = s["paper"]
        lines.append(f"- **paper** mode: {MODES['paper']} — per layer QKV, output, FC1, FC2 "
                     f"(non-gated MLP ×{p['mlp_ratio']}) on {p['tokens']} tokens. {p['why']}")
    lines += [f"- **full** mode: {MODES['full']} — batch {full['batch']}, prompt "
              + ", ".join(f"{m} {t} tokens" for m, t in full["prefill"].items())
              + (f", {full['decode']} decode steps" if full["decode"] else ", no decode") + ".",
              "", f"![time and energy vs {ref}]({image})", "",
              f"## Geometric means over the models (vs `{ref}`)", "",
              "| design | target | format | " + " | ".join(f"time ({m}) | energy ({m})" for m in s["modes"]) + " |",
              "|---|---|---|" + "---:|---:|" * len(s["modes"])]
    means = doc["geomean"] + doc["sensitivity"]["geomean"]
    for name in dict.fromkeys(g["design"] for g in means):
        d = doc["designs"][name]
        cells = []
        for mode in s["modes"]:
            g = next(x for x in means if (x["design"], x["mode"]) == (name, mode))
            cells += [f"{g[time_key]:.3f}", f"{g[energy_key]:.3f}"]
        shown = name + (" (sensitivity)" if name not in {x["design"] for x in doc["geomean"]} else "")
        lines.append(f"| {shown} | `{d['target']}` | `{d['format']}` | " + " | ".join(cells) + " |")
    lines += ["", "## Speed-up and energy reduction over the baselines, next to the published ratios", "",
              "| design | baseline | mode | speed-up | energy reduction | published speed-up | "
              f"published energy | within {band} |", "|---|---|---|---:|---:|---:|---:|---|"]
    for c in doc["comparisons"] + doc["sensitivity"]["comparisons"]:
        pub = "published_speedup" in c
        lines.append(f"| {c['design']} | {c['baseline']} | {c['mode']} | {times(c['speedup'])} | "
                     f"{times(c['energy_reduction'])} | "
                     + (f"{times(c['published_speedup'])} (published) | "
                        f"{times(c['published_energy_reduction'])} (published) | "
                        f"{'yes' if c['within_tolerance'] else '**no**'}" if pub else "— | — | —") + " |")
    lines += ["", f"Published: {doc['published']['citation']}.", "",
              "## Per model", "",
              f"| design | model | mode | time vs {ref} | energy vs {ref} | cycles | seconds | joules |",
              "|---|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['design']} | {r['model']} | {r['mode']} | {r[time_key]:.3f} | {r[energy_key]:.3f} | "
              f"{r['cycles']:,} | {r['seconds']:.4g} | {r['energy_j']:.4g} |"
              for r in doc["rows"] + doc["sensitivity"]["rows"]]
    lines += ["", "## Designs", "", "| design | target | linear-layer format | why |", "|---|---|---|---|"]
    lines += [f"| {n} | `{d['target']}` | `{d['format']}` | {d['why']} |" for n, d in doc["designs"].items()]
    lines += ["", "## Assumptions", "", "| item | value | source |", "|---|---|---|"]
    lines += [f"| {a['item']} | {a['value']} | {a['source']} |" for a in doc["assumptions"]]
    lines += ["", "## Where we differ from the paper, and why", ""]
    lines += [verdict_line(c, band, f" ({c['mode']} mode)") for c in doc["comparisons"]
              if "published_speedup" in c]
    ranges = _ranges(doc)
    lines += [f"- {text.format(range=ranges)}" for text in study.differences]
    lines += ["", "## Accuracy beside speed", ""] + accuracy_lines(doc["accuracy"], study)
    return "\n".join(lines) + "\n"


def plot(doc: dict, study: Study) -> bytes:
    """Grouped bars: each design's geomean time and energy vs the reference, per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_key, energy_key = _keys(study)
    ref = doc["reference"]
    modes = list(doc["setting"]["modes"])
    names = list(dict.fromkeys(g["design"] for g in doc["geomean"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), dpi=110)
    width = 0.8 / len(modes)
    for ax, key, label in ((axes[0], time_key, "time"), (axes[1], energy_key, "energy")):
        for index, mode in enumerate(modes):
            values = [next(g[key] for g in doc["geomean"] if (g["design"], g["mode"]) == (n, mode))
                      for n in names]
            ax.bar([i + (index - (len(modes) - 1) / 2) * width for i in range(len(names))], values,
                   width, label=f"{mode} mode", color=("#4c72b0", "#dd8452")[index % 2])
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(range(len(names)), names, fontsize=8, rotation=20)
        ax.set_ylabel(f"{label} ÷ {label} on {ref}")
        ax.set_title(f"{label}, geomean over the models (lower is better)", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(study.plot_title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
