"""The sweep's outputs rendered in memory (written as one set by the command): the table as
Parquet and CSV, ``pareto.png``, ``sweep.md``, and the JSON summary of ``--json``."""

from __future__ import annotations

from tapeout.sweep import report, table
from tapeout.sweep.evaluate import STATUSES
from tapeout.sweep.run import Outcome, code_version
from tapeout.sweep.spec import Sweep


def point_area(target_doc: dict) -> float | None:
    """The area estimate of a sweep point's (valid) target document (:mod:`hw.area`)."""
    from hw.area import area_mm2
    from sim.target import parse_target

    return area_mm2(parse_target(target_doc, "point"))


def render(sweep: Sweep, outcome: Outcome) -> tuple[dict[str, bytes | str], dict]:
    """(file name → contents, summary document)."""
    version = code_version()
    keys = [p.key(version) for p in sweep.points]
    areas = [point_area(p.target) if r["status"] == "ok" else None
             for p, r in zip(sweep.points, outcome.rows, strict=True)]
    rows = table.build_rows(sweep, outcome.rows, keys, areas, outcome.perplexity)
    arrow = table.to_arrow(rows, table.columns(sweep))
    files = {"sweep.parquet": table.parquet_bytes(arrow), "sweep.csv": table.csv_bytes(arrow),
             "pareto.png": report.plot(sweep, rows),
             "sweep.md": report.render_markdown(sweep, rows, outcome.computed)}
    doc = {"summary": {"points": len(rows), "computed": outcome.computed,
                       "statuses": {s: sum(r["status"] == s for r in rows) for s in STATUSES}},
           "pareto": [rows[i]["point"] for i in table.pareto_front(rows)],
           "rows": rows}
    return files, doc
