"""`tapeout sweep`: a design-space sweep on Dask, cached and resumable, with its Pareto front."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tapeout.app import JsonOption, app, emit_json, err, out

SWEEP_FILES = ("sweep.parquet", "sweep.csv", "pareto.png", "sweep.md")
"""The files ``tapeout sweep`` writes into its directory, as one set."""


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="The sweep (YAML): base target, workload, axes or points, constraints.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Directory for sweep.parquet, sweep.csv, pareto.png and sweep.md (default: out/sweep/NAME).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a running Dask scheduler (tcp://host:port); default: a LocalCluster on this machine.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes of the LocalCluster; 0 runs the points in this process, one after another.", min=0, max=256)] = 2,
    as_json: JsonOption = False,
) -> None:
    """Sweep a base target over axes (any target field, format, model, lengths): every point
    simulated once, cached by content, in parallel on Dask; writes the table and the Pareto
    front."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from core.files import refuse_unusable, write_files
    from tapeout.sweep import outputs
    from tapeout.sweep.run import run_sweep
    from tapeout.sweep.spec import load_sweep

    plan = load_sweep(sweep_file)
    directory = output or Path("out") / "sweep" / sweep_file.stem
    paths = [directory / name for name in SWEEP_FILES]
    refuse_unusable(paths)
    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
               TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("sweep", total=len(plan.points))
        result = run_sweep(plan, workers=workers, scheduler=scheduler,
                           progress=lambda done, total: bar.update(task, completed=done, total=total))
    files, doc = outputs.render(plan, result)
    write_files({directory / name: files[name] for name in SWEEP_FILES})
    if as_json:
        emit_json(doc)
        return
    s = doc["summary"]
    out.print(f"{s['points']} points ({', '.join(f'{n} {k}' for k, n in s['statuses'].items() if n)}); "
              f"{s['computed']} computed, {s['points'] - s['computed']} from the cache; "
              f"{len(doc['pareto'])} on the Pareto front", highlight=False)
    out.print(f"wrote {directory}/" + ", ".join(SWEEP_FILES), highlight=False)
