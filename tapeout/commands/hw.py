"""`tapeout units / verilog / verify / synth`: list, generate, check and size the RTL units.

Every command dispatches over the unit registry (:mod:`hw.registry`); none names a design.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from core.errors import UserError
from tapeout.app import JsonOption, app, emit_json, err, out

UnitArg = Annotated[str, typer.Argument(help="RTL unit (`tapeout units` lists them).")]
TargetOption = Annotated[str | None, typer.Option("--target", help="Target name or YAML that sizes the unit (e.g. an array's compute rows × cols and accumulator bits).")]
ParamOption = Annotated[list[str] | None, typer.Option("--param", "-p", help="Unit parameter KEY=VALUE (repeatable; `tapeout units` lists each unit's parameters).")]
BitsOption = Annotated[int | None, typer.Option("--bits", help="Shorthand for --param bits=N (the operand code width of units that have one).")]
KeepOption = Annotated[int | None, typer.Option("--keep", help="Shorthand for --param keep=N: the N of N:16 sparsity a bench runs (FlightLLM chain; default every N).")]
WeightBitsOption = Annotated[int | None, typer.Option("--weight-bits", help="Shorthand for --param weight_bits=B: 4 or 8-bit weights in a bench (FlightLLM chain; default both).")]


def _unit_and_params(name: str, target: str | None, params: list[str] | None,
                     shorthands: dict[str, int | None]):
    """The unit and its parameters from ``--target``, ``--param`` and the shorthand options
    (``{parameter: value or None}``, e.g. ``--bits``); a parameter given twice is refused."""
    from hw.registry import get_unit, resolve_params

    unit = get_unit(name)
    options: dict[str, str] = {}
    for item in params or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param takes KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    for key, value in shorthands.items():
        if value is None:
            continue
        if key in options:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"give {key} once: {flag} or --param {key}=, not both")
        options[key] = str(value)
    return unit, resolve_params(unit, target, options)


@app.command("units")
def list_units(as_json: JsonOption = False) -> None:
    """List the RTL units: what each is, its parameters (defaults), its bench and its vectors."""
    import dataclasses

    from hw.registry import units

    rows = [{"unit": u.name, "summary": u.summary,
             "params": {f.name: f.default for f in dataclasses.fields(u.params)},
             "bench": u.bench.module, "default_vectors": u.default_vectors,
             "vector": u.vector_noun, "measures_cycles": u.cycles is not None}
            for u in units().values()]
    if as_json:
        emit_json({"units": rows})
        return
    table = Table(title="tapeout RTL units")
    for col in ("unit", "what it is", "parameters (default)", "bench vectors"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["unit"], escape(r["summary"]), ", ".join(f"{k}={v}" for k, v in r["params"].items()),
                      f"{r['default_vectors']:,} {r['vector']}s" + (", cycles" if r["measures_cycles"] else ""))
    out.print(table)


@app.command()
def verilog(
    unit: UnitArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory for <top>.v and <top>.json.")],
    target: TargetOption = None,
    param: ParamOption = None,
    bits: BitsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a unit's Verilog and a JSON of its parameters and ports (both or neither)."""
    from hw.registry import elaborate

    rtl, params = _unit_and_params(unit, target, param, {"bits": bits})
    generated = elaborate(rtl, params)
    v_path, j_path = generated.write(output)
    if as_json:
        emit_json({**generated.description(), "verilog": str(v_path), "json": str(j_path)})
        return
    out.print(f"{unit}: top {generated.top}, {len(generated.ports)} ports, "
              f"{len(generated.text.splitlines())} lines of Verilog", highlight=False)
    out.print(f"wrote {escape(str(v_path))} and {escape(str(j_path))}", highlight=False)


@app.command()
def verify(
    unit: UnitArg,
    vectors: Annotated[int | None, typer.Option("--vectors", help="Vectors to run (default: the unit's own count, see `tapeout units`).")] = None,
    waves: Annotated[bool, typer.Option("--waves", help="Write an FST wave file (<top>.fst in the current directory).")] = False,
    target: TargetOption = None,
    param: ParamOption = None,
    bits: BitsOption = None,
    keep: KeepOption = None,
    weight_bits: WeightBitsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a unit's cocotb bench on Verilator against its golden model (bit and cycle exact)."""
    from hw.registry import elaborate
    from hw.verify import vector_count
    from hw.verify import verify as run_verify

    rtl, params = _unit_and_params(unit, target, param,
                                   {"bits": bits, "keep": keep, "weight_bits": weight_bits})
    count = vector_count(rtl, vectors)  # checked before anything is printed
    wave_path = Path(f"{elaborate(rtl, params).top}.fst").resolve() if waves else None
    if not as_json:
        shown = ", ".join(f"{k} {v}" for k, v in params.shown().items())
        err.print(f"verifying {unit} ({shown}) on Verilator…", highlight=False)
    result = run_verify(rtl, params, count, waves=wave_path)
    if as_json:
        emit_json(result.to_json())
    else:
        table = Table(show_header=False)
        table.add_row("vectors", f"{result.vectors} {rtl.vector_noun}s")
        table.add_row("mismatches", str(result.mismatches))
        if result.cycles_predicted is not None:
            table.add_row(f"cycles per {rtl.vector_noun} (measured)", str(result.cycles_measured))
            table.add_row(f"cycles per {rtl.vector_noun} (predicted)", str(result.cycles_predicted))
            table.add_row(f"{rtl.vector_noun}s with other cycle counts", str(result.cycle_mismatches))
        table.add_row("build / run (s)", f"{result.build_seconds:.1f} / {result.run_seconds:.1f}")
        if result.waves:
            table.add_row("waves", escape(result.waves))
        out.print(table)
        for example in result.examples:
            out.print(f"  mismatch: {escape(example)}", highlight=False)
        out.print("PASS" if result.passed else "FAIL")
    if not result.passed:
        raise typer.Exit(1)


@app.command()
def synth(
    unit: UnitArg,
    target: TargetOption = None,
    param: ParamOption = None,
    bits: BitsOption = None,
    fpga: Annotated[str | None, typer.Option("--fpga", metavar="FAMILY", help="Synthesize onto an FPGA family instead (xcup: UltraScale+, xcu: UltraScale, xc7: 7-series) with Yosys synth_xilinx: DSP48, LUT, FF, CARRY, BRAM, URAM and SRL counts and the DSP cascade; parts and peers are not sized.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Synthesize a unit with Yosys to generic gates; report cells and NAND2-equivalents beside
    its published area, the share of its parts, and its area beside its peers' (``--fpga``:
    onto an FPGA family's LUTs, flip-flops and DSP slices instead)."""
    from hw.synth import size_report

    rtl, params = _unit_and_params(unit, target, param, {"bits": bits})
    if fpga is not None:
        _synth_fpga(rtl, params, fpga, as_json)
        return
    if not as_json:
        peers = rtl.peers(params)
        extra = f" and {len(peers.peers)} area peers" if peers else ""
        err.print(f"synthesizing {unit}{extra} with Yosys…", highlight=False)
    doc = size_report(rtl, params)
    if as_json:
        emit_json(doc)
        return
    table = Table("cell", "count")
    for cell, count in sorted(doc["cells"].items()):
        table.add_row(escape(cell), str(count))
    out.print(table)
    out.print(f"{doc['top']}: {doc['transistors']} transistors ≈ {doc['nand2_equivalents']:.1f} "
              f"NAND2-equivalents ({doc['conversion']})", highlight=False)
    if "published" in doc:
        p = doc["published"]
        out.print(f"published: {p['area_um2']} µm² ({p['node']}, {p['tool']}; {p['source']}) — "
                  f"implies {p['implied_um2_per_nand2']} µm² per NAND2-equivalent of ours", highlight=False)
    for label, part in doc["parts"].items():
        published = part["published_percent"]
        out.print(f"{part['count']} {label} = {part['percent']} % of the unit"
                  + (f" (published: {published} %, {part['source']})" if published is not None else ""),
                  highlight=False)
    if doc["peers"]:
        _print_peers(doc["peers"])


def _synth_fpga(rtl, params, family: str, as_json: bool) -> None:
    """``synth --fpga``: the resource table of :func:`hw.fpga.fpga_report`, its DSP cascade and
    registers, and its note on what Yosys packs."""
    from hw.fpga import family_name, fpga_report

    family_name(family)  # an unknown family is reported before anything is printed
    if not as_json:
        err.print(f"synthesizing {rtl.name} for {escape(family)} with Yosys synth_xilinx…",
                  highlight=False)
    doc = fpga_report(rtl, params, family)
    if as_json:
        emit_json(doc)
        return
    table = Table("resource", "count")
    for label, key in (("DSP48", "dsp"), ("LUT", "lut"), ("FF", "ff"), ("CARRY", "carry"),
                       ("BRAM (36 Kb)", "bram"), ("URAM", "uram"), ("SRL", "srl"),
                       ("LUTRAM", "lutram")):
        table.add_row(label, f"{doc[key]:g}")
    out.print(table)
    out.print(f"{doc['top']} on {escape(doc['family_name'])} ({escape(doc['yosys'])} "
              f"synth_xilinx -family {escape(family)})", highlight=False)
    out.print(f"P cascade: {doc['p_cascade_links']} PCOUT→PCIN links "
              f"({escape(doc['p_cascade_why'])}); DSP registers: PREG in {doc['dsp_preg']}, MREG "
              f"in {doc['dsp_mreg']}, AREG in {doc['dsp_areg']} of {doc['dsp']} DSPs",
              highlight=False)
    out.print(escape(doc["note"]), highlight=False)
    if doc["fit"]:
        _print_fit(doc["fit"], doc["dsp"])


def _count(value: float) -> str:
    """A count with thousands separators, one decimal unless whole."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _print_fit(fit: dict, dsp: int) -> None:
    """The device fit of a ``synth --fpga`` document: instances per resource, the MACs per
    cycle of those that fit beside the reference figures, the DSP check and the sources."""
    table = Table("resource", "per instance", "device", "instances",
                  title=f"fit on {escape(fit['description'])}")
    for resource, row in fit["resources"].items():
        table.add_row(resource.upper() + (" (binding)" if resource == fit["binding"] else ""),
                      f"{row['per_instance']:g}", f"{row['device']:,}",
                      "—" if row["instances"] is None else f"{row['instances']:,}")
    out.print(table)
    check = "as expected" if fit["dsp_matches"] else "EXPECTED " + str(fit["dsp_expected"])
    out.print(f"DSP slices per instance: {dsp} ({check}); {fit['instances']:,} instances fit",
              highlight=False)
    macs = Table("MACs per cycle", "per instance", f"{fit['instances']:,} instances")
    for label, row in fit["macs_per_cycle"].items():
        macs.add_row(escape(label), _count(row["per_instance"]), _count(row["device"]))
    for ref in fit["reference"]:
        macs.add_row(escape(ref["label"]), "", f"{_count(ref['value'])} (reference)")
    out.print(macs)
    out.print(escape(fit["note"]), highlight=False)
    for source in [*fit["sources"], *(ref["source"] for ref in fit["reference"])]:
        out.print(f"source: {escape(source)}", highlight=False)


def _print_peers(peers: dict) -> None:
    """The peer table of a ``synth`` document (units: in its JSON), what its columns are, its
    note and the published figures' sources."""
    table = Table("peer", "NAND2-eq", "flip-flops", "area", "1 / area", "published",
                  title="area beside the unit's peers")
    for label, row in peers["peers"].items():
        published = row["published"]
        table.add_row(escape(label), f"{row['nand2_equivalents']:.1f}", str(row["flip_flops"]),
                      f"{row['relative_area']:.3f}", f"{row['area_efficiency']:.2f}",
                      "—" if published is None else f"{published:g}")
    out.print(table)
    out.print(f"area: NAND2-equivalents relative to {escape(peers['normaliser'])} = 1; 1 / area: "
              f"area efficiency; published: {escape(peers['published_metric'])}", highlight=False)
    out.print(escape(peers["note"]), highlight=False)
    for source in dict.fromkeys(row["source"] for row in peers["peers"].values() if row["source"]):
        out.print(f"published: {escape(source)}", highlight=False)
