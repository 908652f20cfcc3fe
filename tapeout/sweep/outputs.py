"""The sweep's outputs rendered in memory (written as one set by the command): the table as
Parquet and CSV, ``pareto.png``, ``sweep.md``, and the JSON summary of ``--json``."""

from __future__ import annotations

from core.errors import UserError
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
    results, areas = [], []
    for point, result in zip(sweep.points, outcome.rows, strict=True):
        area = None
        if result["status"] == "ok":
            try:
                area = point_area(point.target)
            except UserError as exc:      # the target's area model is broken: the point is invalid
                result = {**result, "status": "invalid", "reason": f"area: {exc}"}
        results.append(result)
        areas.append(area)
    rows = table.build_rows(sweep, results, keys, areas, outcome.perplexity)
    arrow = table.to_arrow(rows, table.columns(sweep))
    files = {"sweep.parquet": table.parquet_bytes(arrow), "sweep.csv": table.csv_bytes(arrow),
             "pareto.png": report.plot(sweep, rows),
             "sweep.md": report.render_markdown(sweep, rows, outcome.computed)}
    doc = {"summary": {"points": len(rows), "computed": outcome.computed,
                       "statuses": {s: sum(r["status"] == s for r in rows) for s in STATUSES}},
           "pareto": [rows[i]["point"] for i in table.pareto_front(rows)],
           "rows": rows}
    return files, doc
