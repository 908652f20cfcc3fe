"""`tapeout simulate` and `tapeout compare`: a model on target accelerators, with reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from core.errors import UserError
from tapeout.app import JsonOption, app, emit_json, err, out

if TYPE_CHECKING:
    from sim.simulate import Simulation

ModelArg = Annotated[str, typer.Argument(help="Zoo model name, a saved trace file (.json/.json.gz), or a SCALE-Sim GEMM topology CSV (Layer,M,N,K).")]
PrefillOpt = Annotated[int | None, typer.Option(help="Prompt tokens of the prefill (zoo models; default 128). An image model takes exactly its token count, the default (vit-b16: 197, vit-h14: 257).", show_default=False)]
DecodeOpt = Annotated[int | None, typer.Option(help="Decode steps after the prefill (zoo models; default 512, 0 for encoders).", show_default=False)]
BatchOpt = Annotated[int, typer.Option(help="Sequences (images) processed together (zoo models; ≥ 1).")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Number format of the linear layers (default: the target's default precision).")]


COMPARE_FILES = ("compare.png", "compare.json", "compare.md")
"""The files ``tapeout compare`` writes into its directory."""


def _run(model: str, targets: list[str], prefill: int | None, decode: int | None, batch: int,
         fmt: str | None):
    """Trace/load the workload once, then simulate it on each target, with a progress bar on a
    terminal (none when stderr is redirected)."""
    from rich.progress import Progress

    from sim.simulate import simulate
    from sim.target import load_target
    from tapeout.workload import load_workload

    specs = [load_target(t) for t in targets]
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(escape(f"tracing {model}"), total=None)
        trace = load_workload(model, prefill, decode, batch=batch)
        sims = []
        for spec in specs:
            bar.update(task, description=escape(f"{trace.name} on {spec.name}"), completed=0, total=len(trace.ops))
            sims.append(simulate(trace, spec, fmt,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total)))
    return trace, sims


def _headline(doc: dict) -> dict:
    return {"model": doc["model"]["name"], "target": doc["target"]["name"], **doc["totals"]}


@app.command()
def simulate(
    model: ModelArg,
    target: Annotated[str, typer.Option("--target", help="Target name (see `tapeout targets`) or path of a target YAML file.")],
    prefill: PrefillOpt = None,
    decode: DecodeOpt = None,
    batch: BatchOpt = 1,
    format: FormatOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Report directory (default: out/simulate/MODEL-TARGET).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Simulate MODEL on a target: latency, energy, utilisation; writes report.md/json and PNGs.
    MODEL may also be a compiled FlightLLM program (.flb from `tapeout compile`): it is decoded
    and run as it is, and its cycles, energy and traffic are printed."""
    if model.endswith(".flb"):
        given = [f for f, v in (("--prefill", prefill), ("--decode", decode), ("--format", format),
                                ("-o", output)) if v is not None] + (["--batch"] if batch != 1 else [])
        if given:
            raise UserError(f"{', '.join(given)} cannot apply to a compiled program: its lengths and "
                            f"format were fixed by `tapeout compile`")
        _simulate_program(Path(model), target, as_json)
        return
    from core.files import refuse_unusable
    from tapeout.report.document import build_report, dumps_report
    from tapeout.report.write import REPORT_FILES, write_report

    if output is not None:  # before the simulation, not after it
        refuse_unusable(output / name for name in REPORT_FILES)
    _, (sim,) = _run(model, [target], prefill, decode, batch, format)
    doc = build_report(sim)
    text = dumps_report(doc, sim)
    directory = output or Path("out") / "simulate" / f"{doc['model']['name']}-{doc['target']['name']}"
    write_report(doc, sim, directory, text)
    if as_json:
        sys.stdout.write(text)
        return
    tot = doc["totals"]
    out.print(f"[bold]{escape(doc['model']['name'])}[/bold] on [bold]{escape(sim.target.name)}[/bold] "
              f"(linear layers at {doc['target']['linear_precision']}) — simulated")
    out.print(_key_values((("latency", f"{tot['seconds']:.6g} s"), ("prefill", f"{tot['prefill_seconds']:.6g} s"),
                         ("decode / token", f"{tot['decode_seconds_per_token']:.6g} s"),
                         ("tokens / s", f"{tot['tokens_per_second']:.4g}" if tot["tokens_per_second"] else "—"),
                         ("energy", f"{tot['energy_joules']:.6g} J"),
                         ("energy / token", f"{tot['energy_per_token_joules']:.6g} J"),
                         ("average power", f"{tot['average_power_watts']:.4g} W"),
                         ("compute utilisation", f"{doc['utilization']['compute']:.2%}"),
                         ("bandwidth utilisation", f"{doc['utilization']['bandwidth']:.2%}"))))
    out.print(f"wrote {directory}/report.md, report.json, latency.png, energy.png, roofline.png",
              soft_wrap=True, highlight=False)


def _simulate_program(path: Path, target: str, as_json: bool) -> None:
    from sim.flightllm.binary import read_program
    from sim.target import load_target
    from tapeout.compile import run_words

    header, words = read_program(path)
    spec = load_target(target)
    run = run_words(header, words, spec)
    doc = {"program": str(path), "model": header.get("model"), "phase": header.get("phase"),
           "length": header.get("length"), "target": spec.name, **run}
    if as_json:
        emit_json(doc)
        return
    out.print(f"[bold]{escape(str(path))}[/bold] ({escape(str(doc['model']))} {escape(str(doc['phase']))} "
              f"{doc['length']}) on [bold]{escape(spec.name)}[/bold] — simulated from the binary")
    out.print(_key_values((("instructions", f"{run['instructions']:,}"), ("cycles", f"{run['cycles']:,}"),
                           ("time", f"{run['seconds'] * 1e3:.6g} ms"), ("energy", f"{run['energy_j']:.6g} J"),
                           ("off-chip read", f"{run['bytes_read']:,} B"),
                           ("off-chip written", f"{run['bytes_written']:,} B"),
                           ("bandwidth utilisation", f"{run['bandwidth_utilisation']:.2%}"))))


def _key_values(rows) -> Table:
    """A two-column table of (label, value) rows, values right-aligned."""
    table = Table(show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    for label, value in rows:
        table.add_row(label, value)
    return table


@app.command()
def compare(
    model: ModelArg,
    targets: Annotated[str, typer.Option("--targets", help="Comma-separated target names or YAML paths; the first is the reference.")],
    prefill: PrefillOpt = None,
    decode: DecodeOpt = None,
    batch: BatchOpt = 1,
    format: FormatOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Directory for compare.md, compare.json and compare.png (default: out/compare/MODEL).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Simulate MODEL on several targets: side-by-side table and a chart normalised to the first."""
    from core.files import dumps_json, refuse_unusable, write_files
    from tapeout.report.document import build_report
    from tapeout.report.plots import comparison

    names = [t.strip() for t in targets.split(",") if t.strip()]
    if len(names) < 2:
        raise UserError("--targets needs at least two comma-separated targets, e.g. int8-systolic,ant")
    if output is not None:  # before the simulations, not after them
        refuse_unusable(output / name for name in COMPARE_FILES)
    trace, sims = _run(model, names, prefill, decode, batch, format)
    rows = []
    for sim in sims:
        doc = build_report(sim)
        rows.append({**_headline(doc), "linear_precision": doc["target"]["linear_precision"],
                     "compute_utilization": doc["utilization"]["compute"]})
    _normalise(rows, sims)
    result = {"model": trace.name, "prefill": trace.prefill, "decode": trace.decode,
              "format": format, "reference": rows[0]["target"], "targets": rows}
    directory = output or Path("out") / "compare" / trace.name
    contents = {"compare.png": comparison(rows), "compare.json": dumps_json(result),
                "compare.md": _compare_markdown(result)}
    write_files({directory / name: contents[name] for name in COMPARE_FILES})
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"{trace.name}: prefill {trace.prefill}, decode {trace.decode} — simulated")
    for col in ("target", "precision", "latency s", "decode s/tok", "energy J", "J/token", "time ×", "energy ×"):
        table.add_column(col, justify="left" if col in ("target", "precision") else "right", no_wrap=True)
    for r in rows:
        table.add_row(r["target"], r["linear_precision"], f"{r['seconds']:.4g}",
                      f"{r['decode_seconds_per_token']:.4g}", f"{r['energy_joules']:.4g}",
                      f"{r['energy_per_token_joules']:.4g}", f"{r['time_vs_first']:.3g}", f"{r['energy_vs_first']:.3g}")
    out.print(table)
    out.print(f"wrote {directory}/compare.md, compare.json, compare.png", soft_wrap=True, highlight=False)


def _normalise(rows: list[dict], sims: list[Simulation]) -> None:
    """Add ``clock_hz``, ``time_vs_first`` and ``energy_vs_first`` to each row of ``rows``:
    ratios of the unrounded totals of its simulation in ``sims`` to the first's, 6 significant
    digits. A reference with zero time or energy is a :class:`UserError` (nothing to divide by)."""
    seconds = [sim.cycles / sim.clock for sim in sims]
    joules = [sim.energy_joules for sim in sims]
    if seconds[0] == 0 or joules[0] == 0:
        raise UserError(f"the reference target {sims[0].target.name} takes {seconds[0]:g} s and "
                        f"{joules[0]:g} J on this workload; nothing to normalise to")
    for r, sim, s, j in zip(rows, sims, seconds, joules, strict=True):
        r["clock_hz"] = sim.clock
        r["time_vs_first"] = float(f"{s / seconds[0]:.6g}")
        r["energy_vs_first"] = float(f"{j / joules[0]:.6g}")


def _compare_markdown(result: dict) -> str:
    lines = [f"# {result['model']}: prefill {result['prefill']}, decode {result['decode']} — simulated", "",
             f"Normalised to {result['reference']} (× = time or energy relative to it; lower is better).", "",
             "| target | precision | latency s | decode s/token | tokens/s | energy J | J/token | power W | time × | energy × |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["targets"]:
        lines.append(f"| {r['target']} | {r['linear_precision']} | {r['seconds']:.4g} | {r['decode_seconds_per_token']:.4g} | "
                     f"{r['tokens_per_second'] or 0:.4g} | {r['energy_joules']:.4g} | {r['energy_per_token_joules']:.4g} | "
                     f"{r['average_power_watts']:.4g} | {r['time_vs_first']:.3g} | {r['energy_vs_first']:.3g} |")
    return "\n".join(lines + ["", "![compare](compare.png)", ""])
