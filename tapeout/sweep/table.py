"""The sweep's results as one table: a row per point, written as ``sweep.parquet`` (pyarrow) and
``sweep.csv``, with the Pareto front of latency and energy (:func:`pareto_front`)."""

from __future__ import annotations

import io
import json
from typing import Any

from tapeout.sweep.evaluate import STATUSES
from tapeout.sweep.spec import Sweep

METRIC_COLUMNS = ("latency_s", "tokens_per_s", "energy_j", "energy_per_token_j", "utilisation",
                  "offchip_bytes", "area_mm2", "perplexity")
TAIL_COLUMNS = ("status", "reason", "key")


def build_rows(sweep: Sweep, results: list[dict], keys: list[str], area: list[float | None],
               perplexity: dict[str, float]) -> list[dict[str, Any]]:
    """The table's rows: the point's axis values, its metrics, area and perplexity, the
    constraints applied (a failing one makes the row ``excluded``), status, reason and key."""
    rows = []
    for index, (point, result, key, mm2) in enumerate(zip(sweep.points, results, keys, area, strict=True)):
        settings = dict(point.settings)
        row: dict[str, Any] = {"point": index}
        row.update({axis: _cell(settings.get(axis)) for axis in sweep.axes})
        row.update({c: result.get(c) for c in METRIC_COLUMNS if c not in ("area_mm2", "perplexity")})
        row["area_mm2"] = mm2
        row["perplexity"] = perplexity.get(point.format) if point.format else None
        row["status"], row["reason"], row["key"] = result["status"], result["reason"], key
        if row["status"] == "ok":
            failed = [str(c) for c in sweep.constraints if not c.holds(row[c.column])]
            if failed:
                row["status"], row["reason"] = "excluded", "constraint " + "; ".join(failed) + " fails"
        assert row["status"] in STATUSES
        rows.append(row)
    return rows


def _cell(value: Any) -> Any:
    """An axis value as a table cell: numbers and strings as they are, anything else as JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)


def columns(sweep: Sweep) -> list[str]:
    return ["point", *sweep.axes, *METRIC_COLUMNS, *TAIL_COLUMNS]


def to_arrow(rows: list[dict], names: list[str]):
    """A pyarrow table with a fixed type per result column (``point`` and ``offchip_bytes``
    int64, the other metrics float64, status, reason and key text); an axis column keeps its
    values' type when they share one (bool, int, float or text), else it is text."""
    import pyarrow as pa

    fixed = {"point": pa.int64(), "offchip_bytes": pa.int64(), "status": pa.string(),
             "reason": pa.string(), "key": pa.string()}
    fixed |= {c: pa.float64() for c in METRIC_COLUMNS if c not in fixed}
    arrays = {}
    for name in names:
        values = [r[name] for r in rows]
        if name in fixed:
            arrays[name] = pa.array(values, type=fixed[name])
            continue
        kinds = {type(v) for v in values if v is not None}
        if kinds in ({int}, {float}, {bool}, {str}):
            arrays[name] = pa.array(values)
        elif kinds == {int, float}:
            arrays[name] = pa.array(values, type=pa.float64())
        else:
            arrays[name] = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    return pa.table(arrays)


def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def csv_bytes(table) -> bytes:
    import pyarrow.csv as pacsv

    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def pareto_front(rows: list[dict]) -> list[int]:
    """Indices (into ``rows``) of the ``ok`` rows no other ``ok`` row dominates (at least as
    good on latency and energy and better on one), by ascending latency; equal points are all
    kept."""
    ok = sorted((r["latency_s"], r["energy_j"], i) for i, r in enumerate(rows) if r["status"] == "ok")
    front, best, last = [], float("inf"), None
    for latency, energy, i in ok:
        if energy < best or (energy, latency) == last:
            front.append(i)
            best, last = energy, (energy, latency)
    return front
