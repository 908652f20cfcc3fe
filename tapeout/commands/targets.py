"""`tapeout targets`: the target accelerators and their specifications."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tapeout.app import JsonOption, app, emit_json, human, out

targets_app = typer.Typer(help="Target accelerators: list them, show one's specification and energy table.",
                          invoke_without_command=True, no_args_is_help=False)
app.add_typer(targets_app, name="targets")


def _summary(spec) -> dict:
    c = spec.compute
    return {"name": spec.name, "kind": spec.kind, "description": spec.description,
            "clock_hz": spec.clock, "compute_model": c.model, "array": [c.rows, c.cols],
            "dataflow": c.dataflow, "precisions": sorted(c.precisions),
            "offchip_bytes_per_second": spec.peak_bandwidth, "memory_kind": spec.memory.kind,
            "energy_table": spec.energy, "static_watts": spec.static_watts}


@targets_app.callback()
def targets(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the shipped targets (hw/targets/*.yaml)."""
    if ctx.invoked_subcommand is not None:
        return
    from sim.target import load_target
    from spec import target_names

    rows = [_summary(load_target(name)) for name in target_names()]
    if as_json:
        emit_json({"targets": rows})
        return
    table = Table(title="tapeout targets")
    for col in ("target", "kind", "clock", "array", "dataflow", "precisions", "off-chip", "static"):
        table.add_column(col, no_wrap=col != "precisions")
    for r in rows:
        table.add_row(r["name"], r["kind"], f"{human(r['clock_hz'])}Hz", f"{r['array'][0]}×{r['array'][1]}",
                      r["dataflow"], ", ".join(r["precisions"]),
                      f"{human(r['offchip_bytes_per_second'])}B/s {r['memory_kind']}", f"{r['static_watts']:g} W")
    out.print(table)


@targets_app.command("show")
def show(name: Annotated[str, typer.Argument(help="Target name or path of a target YAML file.")],
         as_json: JsonOption = False) -> None:
    """Print one target's specification and its energy table (pJ per action, source, node)."""
    from sim.energy.table import load_table
    from sim.target import load_target

    spec = load_target(name)
    table = load_table(spec.energy)
    doc = {"target": spec.model_dump(mode="json"), "bytes_per_cycle_achieved": spec.bytes_per_cycle,
           "energy_table": table.model_dump(mode="json")}
    if as_json:
        emit_json(doc)
        return
    import yaml

    out.print(f"[bold]{escape(spec.name)}[/bold] — {escape(spec.description)}")
    out.print(escape(yaml.safe_dump(doc["target"], sort_keys=False, allow_unicode=True, width=110)))
    t = Table(title=f"energy table {table.name}")
    for col in ("action", "pJ", "per", "node", "source"):
        t.add_column(col, justify="right" if col == "pJ" else "left")
    for action, e in table.entries.items():
        t.add_row(action, f"{e.pj:g}", e.per, e.node, escape(e.source + (f" [{e.scaling}]" if e.scaling else "")))
    out.print(t)
