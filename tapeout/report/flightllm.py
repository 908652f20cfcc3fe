"""``tapeout report flightllm``: FlightLLM's headline results, simulated on the programs
``tapeout compile`` builds (run in memory; their binaries run in the same cycles,
``tests/sim/test_flightllm_compiler.py``).

What it runs is data (``sim/flightllm/reproduction.yaml``): models, [prefill, decode] workloads,
the two FPGA targets and the GPU baselines, sensitivity runs, the published values and every
assumption. On an FPGA a decode step at context L runs the program of its bucket
(:func:`sim.flightllm.buckets.decode_bucket`), compiled with always-on-chip decode; a run of D
steps after a P-token prompt is the sum of its steps' programs (contexts P + 1 … P + D), and its
prefill the prefill bucket's program. The GPUs are simulated on the whole trace by
:func:`sim.simulate.simulate`. Decode throughput, energy per token, power and bandwidth
utilisation are of the decode steps only, as the paper reports decode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, model_validator

from core.errors import UserError
from models.trace.ops import Phase
from spec.schema import Fraction, Strict, TargetSpec
from spec.yamlfile import load_yaml, validate

CONFIG = Path(__file__).resolve().parents[2] / "sim" / "flightllm" / "reproduction.yaml"
Progress = Callable[[str], None]


class Workload(Strict):
    models: list[str] = Field(min_length=1)
    batch: Annotated[int, Field(ge=1, le=1)]
    prefill: list[Annotated[int, Field(ge=1, le=2048)]] = Field(min_length=1)
    decode: list[Annotated[int, Field(ge=1, le=2047)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _within_the_buckets(self) -> Workload:
        if max(self.prefill) + max(self.decode) > 2048:
            raise ValueError("prefill + decode must stay within the 2048-token context the buckets compile")
        return self


class Run(Strict):
    format: str
    why: str


class Sensitivity(Strict):
    """A run on a shipped target with ``edit`` applied to its YAML (dotted keys; a new
    ``compute.rows`` scales every precision's MACs per cycle with it); ``overlap_off`` also runs
    it op by op, for the bandwidth utilisation without always-on-chip decode."""

    target: str
    format: str
    prefill: int = Field(ge=1, le=2048)
    decode: int = Field(ge=1, le=2047)
    edit: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    overlap_off: bool = False
    why: str


class Padding(Strict):
    decode: list[Annotated[int, Field(ge=2, le=2048)]]
    prefill: list[Annotated[int, Field(ge=1, le=2048)]]


class ArtifactSizes(Strict):
    """Program sizes of the FlightLLM artifact (papers/flightllm.md), for the storage ratio
    they imply: prefill bytes per token, decode program bytes at the shortest and longest context."""

    prefill_bytes_per_token: float = Field(gt=0)
    decode_bytes: tuple[float, float]
    source: str


class Storage(Strict):
    model: str
    target: str
    prefill_sample_every: int = Field(ge=1, le=2048)
    artifact: ArtifactSizes


class Value(Strict):
    key: str
    value: float = Field(gt=0)
    what: str


class Published(Strict):
    citation: str
    tolerance: Fraction
    values: list[Value]


class Assumption(Strict):
    item: str
    value: str
    source: str


class AccuracySetting(Strict):
    model: str
    format: str
    tokens: int = Field(ge=1)


class Reproduction(Strict):
    """``sim/flightllm/reproduction.yaml`` (see the module docstring)."""

    workload: Workload
    decode_contexts: list[Annotated[int, Field(ge=2, le=2048)]]
    padding_samples: Padding
    fpgas: dict[str, Run] = Field(min_length=1)
    gpus: dict[str, Run] = Field(min_length=1)
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    storage: Storage
    published: Published
    assumptions: list[Assumption]
    differences: list[str] = Field(default_factory=list)
    accuracy: AccuracySetting


@cache
def load_config(path: Path = CONFIG) -> Reproduction:
    return validate(Reproduction, load_yaml(path), str(path))


@dataclass(frozen=True)
class Step:
    """One program run: seconds, joules, off-chip bytes, instruction words."""

    seconds: float
    joules: float
    bytes: int
    words: int


def _target(name: str, edit: dict[str, Any] | None = None, label: str | None = None) -> TargetSpec:
    """A shipped target, or a copy of it with ``edit`` (see :class:`Sensitivity`) named ``label``."""
    from sim.target import load_target, parse_target
    from spec import spec_path
    from spec.edit import edit_document
    from spec.yamlfile import SpecProblem

    if not edit:
        return load_target(name)
    path, _ = spec_path(name)
    try:
        doc = edit_document(yaml.safe_load(path.read_text(encoding="utf-8")), edit)
    except SpecProblem as problem:
        raise UserError(f"{CONFIG}: sensitivity edit {problem.key!r} of {name}: {problem.reason}") from None
    doc["name"] = label or f"{name}-edited"
    return parse_target(doc, f"{path} with {edit}")


def _run(program, target: TargetSpec, words: int) -> Step:
    from tapeout.compile import run_program

    r = run_program(program, target)
    return Step(r["seconds"], r["energy_j"], r["bytes_read"] + r["bytes_written"], words)


def decode_programs(model: str, target: TargetSpec, fmt: str, contexts: list[int], *,
                    overlap: bool = True, say: Progress | None = None) -> dict[int, Step]:
    """Each context's decode step compiled for ``target`` and run (exact contexts: pass
    buckets to get bucket programs)."""
    from models.trace.tracer import decode_steps
    from sim.flightllm.compiler import program_words, step_program
    from sim.numerics import resolve_numerics

    steps = decode_steps(model, contexts)
    numerics = resolve_numerics(target, fmt, steps[contexts[0]])
    out = {}
    for i, c in enumerate(sorted(steps)):
        if say and i % 16 == 0:
            say(f"{model} on {target.name}: decode programs {i}/{len(steps)}"
                + ("" if overlap else " (no overlap)"))
        program, _, _ = step_program(steps[c], target, numerics, overlap=overlap)
        out[c] = _run(program, target, program_words(program))
    return out


def prefill_program(model: str, target: TargetSpec, fmt: str, length: int) -> Step:
    from sim.flightllm.compiler import program_words, step_program
    from sim.numerics import resolve_numerics
    from tapeout.compile import step_ops

    ops = step_ops(model, "prefill", length)
    program, _, _ = step_program(ops, target, resolve_numerics(target, fmt, ops))
    return _run(program, target, program_words(program))


def _contexts(prefill: int, decode: int) -> range:
    return range(prefill + 1, prefill + decode + 1)


def _row(target: TargetSpec, model: str, prefill: int, decode: int, decode_s: float,
         decode_j: float, decode_bytes: float, prefill_s: float) -> dict[str, Any]:
    return {"target": target.name, "model": model, "prefill": prefill, "decode": decode,
            "decode_ms_per_token": sig(decode_s / decode * 1e3),
            "decode_tokens_per_s": sig(decode / decode_s), "prefill_s": sig(prefill_s),
            "energy_per_token_j": sig(decode_j / decode), "power_w": sig(decode_j / decode_s),
            "bandwidth_utilisation": sig(decode_bytes / (target.peak_bandwidth * decode_s))}


def sig(x: float) -> float:
    return float(f"{x:.6g}")


def fpga_runs(model: str, target: TargetSpec, fmt: str, workload: list[tuple[int, int]],
              say: Progress | None, *, overlap: bool = True,
              prefills: dict[int, Step] | None = None) -> tuple[list[dict], dict[int, Step], dict[int, Step]]:
    """Rows of ``workload`` ((prefill, decode) pairs) on an FPGA target, its bucket programs and
    its prefill programs (``prefills``: those already run; prefill never overlaps)."""
    from sim.flightllm.buckets import decode_bucket

    buckets = sorted({decode_bucket(c) for p, d in workload for c in _contexts(p, d)})
    steps = decode_programs(model, target, fmt, buckets, overlap=overlap, say=say)
    rows = []
    prefills = dict(prefills or {})
    for p in sorted({p for p, _ in workload} - set(prefills)):
        prefills[p] = prefill_program(model, target, fmt, p)
    for p, d in workload:
        runs = [steps[decode_bucket(c)] for c in _contexts(p, d)]
        rows.append(_row(target, model, p, d, math.fsum(r.seconds for r in runs),
                         math.fsum(r.joules for r in runs), sum(r.bytes for r in runs),
                         prefills[p].seconds))
    return rows, steps, prefills


def gpu_run(model: str, target: TargetSpec, fmt: str, prefill: int, decode: int) -> dict:
    """One GPU row: the whole trace simulated, decode-phase ops summed."""
    from models.trace.tracer import trace_model
    from sim.simulate import simulate

    trace, _ = trace_model(model, prefill, decode)
    result = simulate(trace, target, fmt)
    cycles = {Phase.PREFILL: 0, Phase.DECODE: 0}
    joules = dict.fromkeys(cycles, 0.0)
    moved = dict.fromkeys(cycles, 0)
    for op, r in zip(trace.ops, result.results, strict=True):
        cycles[op.phase] += r.cycles
        joules[op.phase] += r.energy_pj * 1e-12
        moved[op.phase] += r.bytes_offchip
    clock = target.clock
    return _row(target, model, prefill, decode, cycles[Phase.DECODE] / clock, joules[Phase.DECODE],
                moved[Phase.DECODE], cycles[Phase.PREFILL] / clock)


def gpu_step_ms(model: str, target: TargetSpec, fmt: str, context: int) -> float:
    """One decode step at ``context`` on a GPU target (ms)."""
    from models.trace.tracer import decode_steps
    from sim.numerics import resolve_numerics
    from sim.simulate import Simulator, fusion_groups

    ops = decode_steps(model, [context])[context]
    sim = Simulator(target, resolve_numerics(target, fmt, ops))
    cycles = sum(r.cycles for a, b in fusion_groups(ops, target) for r in sim.run_group(ops[a:b])[0])
    return cycles / target.clock * 1e3


def storage(config: Reproduction, say: Progress | None) -> dict[str, Any]:
    """Instruction bytes of one program per exact length against the bucket programs."""
    from models.trace.tracer import decode_steps
    from sim.flightllm import buckets
    from sim.flightllm.compiler import WordCounter
    from sim.numerics import resolve_numerics
    from tapeout.compile import step_ops

    s = config.storage
    target = _target(s.target)
    fmt = config.fpgas[s.target].format
    counter: WordCounter | None = None
    decode_words: dict[int, int] = {}
    for lo in range(2, buckets.MAX_LENGTH + 1, 128):
        if say:
            say(f"storage: decode programs of contexts {lo}…")
        steps = decode_steps(s.model, list(range(lo, min(lo + 128, buckets.MAX_LENGTH + 1))))
        if counter is None:
            counter = WordCounter(target, resolve_numerics(target, fmt, next(iter(steps.values()))))
        decode_words |= {c: counter.words(ops) for c, ops in steps.items()}
    decode_words[1] = decode_words[2]       # context 1 (no prompt) is counted as 2
    sampled = sorted({1, *range(s.prefill_sample_every, buckets.MAX_LENGTH + 1, s.prefill_sample_every),
                      *buckets.prefill_buckets()})
    prefill_words = {}
    for length in sampled:
        if say and length % 256 == 0:
            say(f"storage: prefill program of {length} tokens")
        ops = step_ops(s.model, "prefill", length)
        prefill_words[length] = WordCounter(target, resolve_numerics(target, fmt, ops)).words(ops)

    def prefill_bytes(length: int) -> float:
        if length in prefill_words:
            return 4 * prefill_words[length]
        lo = max(x for x in sampled if x < length)
        hi = min(x for x in sampled if x > length)
        w = prefill_words[lo] + (prefill_words[hi] - prefill_words[lo]) * (length - lo) / (hi - lo)
        return 4 * w

    def decode_bytes(context: int) -> float:
        return 4 * decode_words[context]

    art = s.artifact

    def artifact_decode(context: int) -> float:
        lo, hi = art.decode_bytes
        return lo + (hi - lo) * (context - 1) / (buckets.MAX_LENGTH - 1)

    artifact_ratio = buckets.storage_ratio(lambda n: art.prefill_bytes_per_token * n, artifact_decode)
    lengths = range(1, buckets.MAX_LENGTH + 1)
    exact = math.fsum(map(prefill_bytes, lengths)) + math.fsum(map(decode_bytes, lengths))
    bucketed = (math.fsum(map(prefill_bytes, buckets.prefill_buckets()))
                + math.fsum(map(decode_bytes, buckets.decode_buckets())))
    return {"model": s.model, "target": s.target, "exact_bytes": sig(exact), "bucket_bytes": sig(bucketed),
            "ratio": sig(buckets.storage_ratio(prefill_bytes, decode_bytes)),
            "artifact_sizes_ratio": sig(artifact_ratio), "artifact_sizes_source": art.source,
            "programs": {"exact": 2 * buckets.MAX_LENGTH,
                         "buckets": len(buckets.prefill_buckets()) + len(buckets.decode_buckets())},
            "decode_program_bytes": {"min": 4 * min(decode_words.values()), "max": 4 * max(decode_words.values())},
            "prefill_program_bytes": {str(n): 4 * prefill_words[n] for n in buckets.prefill_buckets()},
            "method": f"decode programs sized at every context 2…{buckets.MAX_LENGTH} (context 1 as 2); "
                      f"prefill programs at every {s.prefill_sample_every}th length and at the buckets, "
                      f"linearly interpolated between"}


def padding(config: Reproduction, say: Progress | None) -> list[dict[str, Any]]:
    """Exact-length programs against their buckets at the worst-padded sample lengths."""
    from sim.flightllm.buckets import decode_bucket, prefill_bucket

    model = config.workload.models[0]
    rows = []
    for name, run in config.fpgas.items():
        target = _target(name)
        if say:
            say(f"padding: {model} on {name}")
        samples = config.padding_samples.decode
        steps = decode_programs(model, target, run.format, sorted({*samples, *map(decode_bucket, samples)}))
        for c in samples:
            exact, bucket = steps[c], steps[decode_bucket(c)]
            rows.append({"target": name, "model": model, "phase": "decode", "length": c,
                         "bucket": decode_bucket(c), "exact_ms": sig(exact.seconds * 1e3),
                         "bucket_ms": sig(bucket.seconds * 1e3), "overhead": sig(bucket.seconds / exact.seconds - 1)})
        for p in config.padding_samples.prefill:
            exact, bucket = (prefill_program(model, target, run.format, n) for n in (p, prefill_bucket(p)))
            rows.append({"target": name, "model": model, "phase": "prefill", "length": p,
                         "bucket": prefill_bucket(p), "exact_ms": sig(exact.seconds * 1e3),
                         "bucket_ms": sig(bucket.seconds * 1e3), "overhead": sig(bucket.seconds / exact.seconds - 1)})
    return rows


def _geomean(values: list[float]) -> float:
    return math.exp(math.fsum(map(math.log, values)) / len(values))


def comparisons(config: Reproduction, runs: list[dict], bandwidth: list[dict],
                store: dict | None) -> list[dict[str, Any]]:
    """Our value of each published figure (LLaMA2-7B: geometric mean over the workloads)."""
    model = config.workload.models[0]
    by = {}
    for r in runs:
        if r["model"] == model:
            by.setdefault(r["target"], []).append(r)

    def g(target: str, key: str) -> float:
        return _geomean([r[key] for r in by[target]])

    def eff(target: str) -> float:      # tokens per joule
        return _geomean([1 / r["energy_per_token_j"] for r in by[target]])

    bw = {(b["target"], b["model"]): b for b in bandwidth}
    u280, vhk = "flightllm-u280", "flightllm-vhk158"
    formulas = {   # key → (the targets it needs, its value)
        "u280_tokens_per_s": ((u280,), lambda: g(u280, "decode_tokens_per_s")),
        "u280_power_w": ((u280,), lambda: g(u280, "power_w")),
        "vhk158_tokens_per_s": ((vhk,), lambda: g(vhk, "decode_tokens_per_s")),
        "u280_vs_v100s_energy": ((u280, "v100s"), lambda: eff(u280) / eff("v100s")),
        "u280_vs_a100_energy": ((u280, "a100"), lambda: eff(u280) / eff("a100")),
        "vhk158_vs_a100_speed": ((vhk, "a100"), lambda: g(vhk, "decode_tokens_per_s") / g("a100", "decode_tokens_per_s")),
        "v100s_tokens_per_s": (("v100s",), lambda: g("v100s", "decode_tokens_per_s")),
        "bandwidth_on": ((u280,), lambda: bw[(u280, model)]["on"]),
        "bandwidth_off": ((u280,), lambda: bw[(u280, model)]["off"]),
        "storage_ratio": (("storage",), lambda: store["ratio"]),
    }
    have = set(by) | ({"storage"} if store is not None else set())
    ours = {key: value() for key, (needs, value) in formulas.items() if set(needs) <= have}
    tol = config.published.tolerance
    out = []
    for v in config.published.values:
        if v.key not in ours:
            continue
        ratio = ours[v.key] / v.value
        out.append({"key": v.key, "what": v.what, "ours": sig(ours[v.key]), "published": v.value,
                    "ours_over_published": sig(ratio), "within_tolerance": abs(ratio - 1) <= tol})
    return out


def build(config: Reproduction | None = None, *, with_storage: bool = True,
          accuracy: dict | None = None, say: Progress | None = None) -> dict[str, Any]:
    """The report document (see ``reports/flightllm.json``)."""
    config = config or load_config()
    models = config.workload.models
    for name in [*config.fpgas, *config.gpus, config.storage.target]:    # bad names fail now, not
        _target(name)                                                  # minutes into the runs
    for s in config.sensitivity:
        _target(s.target, s.edit, s.label)
    workload = [(p, d) for p in config.workload.prefill for d in config.workload.decode]
    runs: list[dict] = []
    bandwidth: list[dict] = []
    contexts: list[dict] = []
    first = workload[0]
    for model in models:
        for name, run in config.fpgas.items():
            target = _target(name)
            rows, steps, prefills = fpga_runs(model, target, run.format, workload, say)
            runs += rows
            off, _, _ = fpga_runs(model, target, run.format, [first], say, overlap=False, prefills=prefills)
            on = next(r for r in rows if (r["prefill"], r["decode"]) == first)
            bandwidth.append({"target": name, "model": model, "prefill": first[0], "decode": first[1],
                              "on": on["bandwidth_utilisation"], "off": off[0]["bandwidth_utilisation"],
                              "ms_per_token_on": on["decode_ms_per_token"],
                              "ms_per_token_off": off[0]["decode_ms_per_token"]})
            missing = [c for c in config.decode_contexts if c not in steps]
            at = steps | (decode_programs(model, target, run.format, missing) if missing else {})
            for c in config.decode_contexts:
                step = at[c]
                contexts.append({"target": name, "model": model, "context": c, "ms_per_token": sig(step.seconds * 1e3)})
        for name, run in config.gpus.items():
            target = _target(name)
            for p, d in workload:
                if say:
                    say(f"{model} on {name}: prefill {p}, decode {d}")
                runs.append(gpu_run(model, target, run.format, p, d))
            for c in config.decode_contexts:
                contexts.append({"target": name, "model": model, "context": c,
                                 "ms_per_token": sig(gpu_step_ms(model, target, run.format, c))})
    sensitivity = []
    for s in config.sensitivity:
        target = _target(s.target, s.edit, s.label)
        for model in models:
            rows, _, prefills = fpga_runs(model, target, s.format, [(s.prefill, s.decode)], say)
            row = {**rows[0], "format": s.format, "edit": s.edit, "why": s.why}
            if s.overlap_off:
                off, _, _ = fpga_runs(model, target, s.format, [(s.prefill, s.decode)], say, overlap=False,
                                      prefills=prefills)
                row["bandwidth_utilisation_off"] = off[0]["bandwidth_utilisation"]
            sensitivity.append(row)
    store = storage(config, say) if with_storage else None
    doc = {"runs": runs, "decode_context": contexts, "bandwidth": bandwidth,
           "padding": padding(config, say), "storage": store, "sensitivity": sensitivity}
    doc["comparisons"] = comparisons(config, runs, bandwidth, store)
    doc["published"] = config.published.model_dump()
    doc["assumptions"] = [a.model_dump() for a in config.assumptions]
    doc["formats"] = {name: run.format for name, run in {**config.fpgas, **config.gpus}.items()}
    doc["accuracy"] = accuracy
    doc["differences"] = list(config.differences)
    return doc


def _ms(x: float) -> str:
    return f"{x:.4g}"


def _cells(r: dict[str, Any]) -> str:
    """J/token, W and bandwidth utilisation cells of a run row."""
    return f"{r['energy_per_token_j']:.4g} | {r['power_w']:.4g} | {r['bandwidth_utilisation']:.1%}"


def render_markdown(doc: dict[str, Any], image: str) -> str:
    pub = doc["published"]
    band = f"±{pub['tolerance']:.0%}"
    lines = ["# FlightLLM reproduction — simulated", "",
             "Every number below is simulated by tapeout unless it is in a *published* column "
             f"({pub['citation']}). FPGA decode runs the compiled bucket program of every step "
             "(always-on-chip decode); GPUs are simulated on the whole trace. Formats: "
             + ", ".join(f"{t} `{f}`" for t, f in doc["formats"].items()) + ".", "",
             f"## Headline figures (LLaMA2-7B, batch 1; geometric mean over the workloads; aim {band})", "",
             "| figure | ours | published | ours ÷ published | within |", "|---|---:|---:|---:|---|"]
    for c in doc["comparisons"]:
        lines.append(f"| {c['what']} | {c['ours']:.4g} | {c['published']:g} | {c['ours_over_published']:.3g} | "
                     f"{'yes' if c['within_tolerance'] else '**no**'} |")
    lines += ["", "## Runs", "", "| target | model | prefill | decode | ms/token | tok/s | prefill s | J/token | W | BW util. |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["runs"]:
        lines.append(f"| {r['target']} | {r['model']} | {r['prefill']} | {r['decode']} | {_ms(r['decode_ms_per_token'])} | "
                     f"{r['decode_tokens_per_s']:.4g} | {r['prefill_s']:.4g} | {_cells(r)} |")
    lines += ["", "## Always-on-chip decode: bandwidth utilisation on and off", "",
              "| target | model | workload | off: ms/token | off: BW | on: ms/token | on: BW |", "|---|---|---|---:|---:|---:|---:|"]
    for b in doc["bandwidth"]:
        lines.append(f"| {b['target']} | {b['model']} | {b['prefill']} + {b['decode']} | {_ms(b['ms_per_token_off'])} | "
                     f"{b['off']:.1%} | {_ms(b['ms_per_token_on'])} | {b['on']:.1%} |")
    lines += ["", "Off: a SYS barrier after every op. On: one program per step, barriers between layers "
              "only, activations on chip, weight and K/V loads issued while the previous op computes "
              "(`sim/flightllm/overlap.py`).", "",
              "## One decode step against its context", "", "| target | model | context | ms/token |", "|---|---|---:|---:|"]
    for c in doc["decode_context"]:
        lines.append(f"| {c['target']} | {c['model']} | {c['context']} | {_ms(c['ms_per_token'])} |")
    lines += ["", "## Length-adaptive compilation", "", "What bucketing costs — exact-length programs against their bucket's, at lengths just past a bucket boundary:", "",
              "| target | phase | length | bucket | exact ms | bucket ms | overhead |", "|---|---|---:|---:|---:|---:|---:|"]
    for p in doc["padding"]:
        lines.append(f"| {p['target']} | {p['phase']} | {p['length']} | {p['bucket']} | {_ms(p['exact_ms'])} | "
                     f"{_ms(p['bucket_ms'])} | {p['overhead']:+.2%} |")
    s = doc["storage"]
    if s:
        lines += ["", f"Instruction storage ({s['model']} on {s['target']}): {s['programs']['exact']:,} exact-length "
                  f"programs take {s['exact_bytes'] / 1e9:.3g} GB, the {s['programs']['buckets']} bucket programs "
                  f"{s['bucket_bytes'] / 1e6:.3g} MB — **{s['ratio']:.3g}× less** (published ≈ 500×). A decode program "
                  f"is {s['decode_program_bytes']['min'] / 1e6:.3g}–{s['decode_program_bytes']['max'] / 1e6:.3g} MB; "
                  f"{s['method']}. The artifact's own program sizes ({s['artifact_sizes_source']}) give "
                  f"{s['artifact_sizes_ratio']:.3g}×."]
    if doc["sensitivity"]:
        lines += ["", "## Sensitivity", "", "| target | format | model | workload | ms/token | tok/s | J/token | W | BW util. | BW off | why |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for r in doc["sensitivity"]:
            off = r.get("bandwidth_utilisation_off")
            lines.append(f"| {r['target']} | {r['format']} | {r['model']} | {r['prefill']} + {r['decode']} | "
                         f"{_ms(r['decode_ms_per_token'])} | {r['decode_tokens_per_s']:.4g} | {_cells(r)} | "
                         f"{'—' if off is None else f'{off:.1%}'} | {r['why']} |")
    acc = doc.get("accuracy")
    if acc:
        lines += ["", "## Accuracy beside speed", "", f"Perplexity of {acc['model']} ({acc['tokens']} tokens, {acc['source']}):", "",
                  "| configuration | perplexity |", "|---|---:|"]
        lines += [f"| {name} | {value:.4g} |" for name, value in acc["perplexity"].items()]
        if acc.get("note"):
            lines += ["", acc["note"]]
    lines += ["", "## Assumptions", "", "| item | value | source |", "|---|---|---|"]
    lines += [f"| {a['item']} | {a['value']} | {a['source']} |" for a in doc["assumptions"]]
    if doc.get("differences"):
        lines += ["", "## Why the misses", ""] + [f"- {d}" for d in doc["differences"]]
    lines += ["", f"![FlightLLM reproduction]({image})", ""]
    return "\n".join(lines)


def plot(doc: dict[str, Any]) -> bytes:
    from tapeout.report.plots import plt, png

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    first = doc["runs"][0]
    workload = (first["prefill"], first["decode"])
    rows = [r for r in doc["runs"] if (r["prefill"], r["decode"]) == workload]
    models = list(dict.fromkeys(r["model"] for r in rows))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    width = 0.8 / len(models)
    for panel, key, label in ((0, "decode_tokens_per_s", "decode tokens / s"), (1, "energy_per_token_j", "J / token")):
        ax = axes[panel]
        for i, model in enumerate(models):
            values = [next(r[key] for r in rows if r["target"] == t and r["model"] == model) for t in targets]
            ax.bar([x + i * width for x in range(len(targets))], values, width, label=model)
        ax.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(targets))], targets, rotation=15)
        ax.set_ylabel(label)
        ax.set_title(f"{label} (prefill {workload[0]}, decode {workload[1]}), simulated")
        if panel == 1:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    published = {c["key"]: c["published"] for c in doc["comparisons"]}
    if "u280_tokens_per_s" in published and "flightllm-u280" in targets:
        axes[0].scatter([targets.index("flightllm-u280")], [published["u280_tokens_per_s"]], marker="*", s=150,
                        color="black", zorder=3, label="published (LLaMA2-7B)")
    if "vhk158_tokens_per_s" in published and "flightllm-vhk158" in targets:
        axes[0].scatter([targets.index("flightllm-vhk158")], [published["vhk158_tokens_per_s"]], marker="*", s=150,
                        color="black", zorder=3)
    axes[0].legend(fontsize=8)
    ax = axes[2]
    model = models[0]
    for t in targets:
        pts = [(c["context"], c["ms_per_token"]) for c in doc["decode_context"] if c["target"] == t and c["model"] == model]
        ax.plot(*zip(*pts, strict=True), marker="o", label=t)
    ax.set_xlabel("decode context (tokens)")
    ax.set_ylabel("ms per decode step")
    ax.set_title(f"{model}: one decode step, simulated")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def accuracy_section(config: Reproduction, acc: dict | None, finetuned: dict | None = None) -> dict | None:
    """Perplexity of the accuracy model in fp32 and under the FPGAs' format (and after the
    sparse-aware fine-tune when it has been run), from an accuracy report."""
    a = config.accuracy
    if acc is None:
        return None
    formats = acc["formats"]
    found = {name: formats[name]["perplexity"] for name in ("fp32", a.format) if name in formats}
    if not found:
        return None
    section = {"model": acc["model"], "tokens": acc["tokens"], "source": acc.get("source", "accuracy report"),
               "perplexity": found}
    if finetuned is not None:
        f = finetuned
        section["perplexity"][f"{a.format} after fine-tuning"] = f["perplexity_after"]
        section["finetune"] = f
        section["note"] = (f"Fine-tune (`tapeout finetune`, cached): {f['steps']} AdamW steps of {f['batch']} × "
                           f"{f['seq']} tokens at lr {f['lr']:g} on the text after the evaluated tokens, the "
                           f"format's N:16 masks fixed ({f['sparse_layers']} sparse layers), every decoder-layer "
                           f"linear weight trained in FP32, {f['seconds']:.0f} s on this machine; perplexity "
                           f"under {a.format} {f['perplexity_before']:.4g} before, {f['perplexity_after']:.4g} after.")
    else:
        section["note"] = (f"No fine-tune result is cached: `tapeout finetune {a.model} --format {a.format} "
                           f"--tokens {acc['tokens']}` measures what a short sparse-aware fine-tune recovers "
                           f"(the paper fine-tunes after pruning).")
    return section
