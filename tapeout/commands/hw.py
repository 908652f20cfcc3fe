"""`tapeout verilog / verify / synth`: generate, check and size the hardware designs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tapeout.app import JsonOption, app, emit_json, err, out

DesignArg = Annotated[str, typer.Argument(help="Design: olive-encoder, olive-decoder, olive-pe, olive-array.")]
BitsOption = Annotated[int, typer.Option("--bits", help="OVP code width: 4 (OVP-4) or 8 (OVP-8).")]
TargetOption = Annotated[str | None, typer.Option("--target", help="Target name or YAML whose compute rows × cols size the array (default 8 × 8).")]

PAPER_AREAS = {  # OliVe (ISCA 2023), Synopsys DC, TSMC 22 nm — papers/olive.md "Hardware"
    ("olive-decoder", 4): 13.53,
    ("olive-decoder", 8): 18.00,
}
PAPER_DECODER_OVERHEAD = {4: 2.2, 8: 1.5}
"""Decoder area as % of the systolic core, OliVe (ISCA 2023) — papers/olive.md."""


def _params(design: str, bits: int, target: str | None):
    from hw.olive.designs import resolve_params

    return resolve_params(design, bits=bits, target=target)


@app.command()
def verilog(
    design: DesignArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory for <top>.v and <top>.json.")],
    bits: BitsOption = 4,
    target: TargetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a design's Verilog and a JSON of its parameters and ports (both or neither)."""
    from hw.olive.designs import elaborate

    generated = elaborate(design, _params(design, bits, target))
    v_path, j_path = generated.write(output)
    if as_json:
        emit_json({**generated.description(), "verilog": str(v_path), "json": str(j_path)})
        return
    out.print(f"{design}: top {generated.top}, {len(generated.ports)} ports, "
              f"{len(generated.text.splitlines())} lines of Verilog")
    out.print(f"wrote {v_path} and {j_path}")


@app.command()
def verify(
    design: DesignArg,
    vectors: Annotated[int | None, typer.Option("--vectors", help="Pairs (encoder, decoder), cycles (PE) or tiles (array); default 24000 / 24000 / 20000 / 200.")] = None,
    waves: Annotated[bool, typer.Option("--waves", help="Write an FST wave file (<top>.fst in the current directory).")] = False,
    bits: BitsOption = 4,
    target: TargetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a design's cocotb bench on Verilator against the golden model (bit and cycle exact)."""
    from hw.olive.designs import elaborate
    from hw.olive.verify import vector_count
    from hw.olive.verify import verify as run_verify

    vectors = vector_count(design, vectors)  # checked before anything is printed
    params = _params(design, bits, target)
    wave_path = Path(f"{elaborate(design, params).top}.fst").resolve() if waves else None
    if not as_json:
        err.print(f"verifying {design} (bits {params.bits}) on Verilator…")
    result = run_verify(design, params, vectors, waves=wave_path)
    if as_json:
        emit_json(result.to_json())
    else:
        table = Table(show_header=False)
        table.add_row("vectors", str(result.vectors))
        table.add_row("mismatches", str(result.mismatches))
        if result.cycles_predicted is not None:
            table.add_row("cycles per tile (measured)", str(result.cycles_measured))
            table.add_row("cycles per tile (predicted)", str(result.cycles_predicted))
            table.add_row("tiles with other cycle counts", str(result.cycle_mismatches))
        table.add_row("build / run (s)", f"{result.build_seconds:.1f} / {result.run_seconds:.1f}")
        if result.waves:
            table.add_row("waves", result.waves)
        out.print(table)
        for example in result.examples:
            out.print(f"  mismatch: {example}")
        out.print("PASS" if result.passed else "FAIL")
    if not result.passed:
        raise typer.Exit(1)


@app.command()
def synth(
    design: DesignArg,
    bits: BitsOption = 4,
    target: TargetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Synthesize a design with Yosys to generic gates; report cells and NAND2-equivalents."""
    from hw.olive.designs import elaborate
    from hw.synth import TRANSISTORS_PER_NAND2, synthesize

    params = _params(design, bits, target)
    generated = elaborate(design, params)
    result = synthesize(generated)
    shown = {k: v for k, v in generated.parameters.items() if k != "design"}
    doc = {"design": design, "top": result.top, "params": shown,
           "cells": result.cells, "flip_flops": result.flip_flops,
           "transistors": result.transistors, "nand2_equivalents": result.nand2_equivalents,
           "conversion": f"NAND2-equivalents = Yosys CMOS transistor estimate / "
                         f"{TRANSISTORS_PER_NAND2} (abc -g cmos2; D flip-flop = 16 transistors)"}
    paper = PAPER_AREAS.get((design, params.bits))
    if paper is not None:
        doc["paper"] = {"area_um2": paper, "node": "TSMC 22 nm", "tool": "Synopsys DC",
                        "source": "OliVe, ISCA 2023 (papers/olive.md)",
                        "implied_um2_per_nand2": round(paper / result.nand2_equivalents, 4)}
    if design == "olive-array":
        from hw.olive.designs import DesignParams

        doc["decoders"] = {}
        for bits, count in ((4, params.rows + params.cols), (8, (params.rows + params.cols) // 2)):
            each = synthesize(elaborate("olive-decoder", DesignParams(bits))).nand2_equivalents
            doc["decoders"][str(bits)] = {
                "count": count, "nand2_equivalents_each": each,
                "overhead_percent": round(100 * count * each / result.nand2_equivalents, 2),
                "paper_overhead_percent": PAPER_DECODER_OVERHEAD[bits]}
    if as_json:
        emit_json(doc)
        return
    table = Table("cell", "count")
    for cell, count in sorted(result.cells.items()):
        table.add_row(cell, str(count))
    out.print(table)
    out.print(f"{result.top}: {result.transistors} transistors ≈ "
              f"{result.nand2_equivalents:.1f} NAND2-equivalents ({doc['conversion']})")
    if paper is not None:
        out.print(f"paper: {paper} µm² (TSMC 22 nm, Synopsys DC) — implies "
                  f"{doc['paper']['implied_um2_per_nand2']} µm² per NAND2-equivalent of ours")
    for bits, d in doc.get("decoders", {}).items():
        out.print(f"{d['count']} {bits}-bit edge decoders = {d['overhead_percent']} % of the array "
                  f"(paper: {d['paper_overhead_percent']} % of the systolic core)")

