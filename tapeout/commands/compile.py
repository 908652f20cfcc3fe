"""`tapeout compile` and `tapeout disasm`: FlightLLM binary programs (docs/flightllm-isa.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from core.errors import UserError
from tapeout.app import JsonOption, app, emit_json, err, out

SUMMARY = "summary.json"


@app.command("compile")
def compile_(
    model: Annotated[str, typer.Argument(help="Zoo model name (see `tapeout models`).")],
    target: Annotated[str, typer.Option("--target", help="A FlightLLM target (flightllm-u280, flightllm-vhk158) or the path of one.")],
    prefill: Annotated[list[int] | None, typer.Option("--prefill", help="Compile the prefill program of a P-token prompt (its bucket: P rounded up to a multiple of 128). Repeatable.", show_default=False)] = None,
    decode_context: Annotated[list[int] | None, typer.Option("--decode-context", help="Compile the decode step at context L (its bucket: L rounded up to a multiple of 16, ≤ 2048). Repeatable.", show_default=False)] = None,
    format: Annotated[str | None, typer.Option("--format", help="Number format of the linear layers, e.g. flightllm-w4s (default: the target's default precision).")] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Compile the lengths as given instead of their buckets.")] = False,
    overlap: Annotated[bool, typer.Option("--overlap/--no-overlap", help="Always-on-chip decode: a decode step as one program, barriers between layers only, weight loads overlapping compute (--no-overlap: a barrier after every op).")] = True,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Directory for the .flb programs and summary.json (default: out/compile/MODEL-TARGET).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Compile MODEL for a FlightLLM target: binary programs (.flb) and a JSON summary."""
    from rich.progress import Progress

    from core.files import dumps_json, refuse_unusable, write_files
    from sim.flightllm.binary import to_bytes
    from sim.target import load_target
    from tapeout.compile import check_compilable, compile_model_step, compiled_length, summary

    spec = load_target(target)
    check_compilable(spec)
    jobs = [("prefill", p) for p in prefill or []] + [("decode", c) for c in decode_context or []]
    if not jobs:
        raise UserError("give --prefill P and/or --decode-context L (each may be repeated)")
    lengths = [(phase, compiled_length(phase, n, exact), n) for phase, n in jobs]  # refuse bad lengths first
    directory = output or Path("out") / "compile" / f"{model}-{spec.name}"
    names = [f"{model}-{phase}{length}.flb" for phase, length, _ in lengths]
    refuse_unusable([directory / n for n in names] + [directory / SUMMARY])
    steps = []
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        for phase, length, requested in lengths:
            task = bar.add_task(escape(f"{model} {phase} {length} on {spec.name}"), total=None)
            steps.append(compile_model_step(
                model, spec, format, phase, requested, exact=exact, overlap=overlap,
                progress=lambda done, total, task=task: bar.update(task, completed=done, total=total)))
    docs = [summary(s, spec) for s in steps]
    doc = {"model": model, "target": spec.name, "format": format, "programs": docs}
    contents = {directory / s.file_name: to_bytes(s.header, s.compiled.words) for s in steps}
    contents[directory / SUMMARY] = dumps_json(doc)
    write_files(contents)
    if as_json:
        emit_json(doc)
        return
    table = Table(title=f"{escape(model)} on {escape(spec.name)} — compiled, simulated")
    for col in ("program", "LD / ST / MM / MV / MISC / SYS", "bytes", "ms", "BW"):
        table.add_column(col, justify="left" if col == "program" else "right")
    for d in docs:
        n = d["instructions"]
        table.add_row(escape(d["file"]), " / ".join(f"{n[k]:,}" for k in ("LD", "ST", "MM", "MV", "MISC", "SYS")),
                      f"{d['bytes']:,}", f"{d['run']['seconds'] * 1e3:.4g}",
                      f"{d['run']['bandwidth_utilisation']:.1%}")
    out.print(table)
    out.print(f"wrote {escape(str(directory))}/: {', '.join(map(escape, names))}, {SUMMARY}",
              soft_wrap=True, highlight=False)


@app.command()
def disasm(
    file: Annotated[Path, typer.Argument(help="A compiled program (.flb) from `tapeout compile`.")],
    limit: Annotated[int | None, typer.Option("--limit", help="Print only the first N instructions.", min=0)] = None,
    as_json: JsonOption = False,
) -> None:
    """Print a compiled FlightLLM program: its header, then one line per instruction."""
    from sim.flightllm import isa
    from sim.flightllm.binary import read_program
    from sim.flightllm.disasm import disassemble

    header, words = read_program(file)
    lines = disassemble(words, header["precisions"], limit)
    if as_json:
        emit_json({"header": header, "instructions": lines})
        return
    out.print(f"[bold]{escape(str(file))}[/bold]: {escape(str(header.get('model')))} "
              f"{escape(str(header.get('phase')))} {header.get('length')} for "
              f"{escape(str(header.get('target')))}, {header['words']:,} words", highlight=False)
    for line in lines:
        fields = " ".join(f"{k}={v}" for k, v in line["fields"].items())
        masks = f"wait[{','.join(line['wait'])}] release[{','.join(line['release'])}]"
        out.print(f"{line['index']:>7} @{line['word']:<8} {line['kind']:<4} {masks:<34} {fields}",
                  highlight=False, markup=False)
    total = len(list(isa.split([int(w) for w in words])))
    if len(lines) < total:
        out.print(f"… first {len(lines)} of {total:,} instructions shown (--limit)", highlight=False)
