"""One sweep point → one row of results, with the same definitions as ``tapeout simulate``.

A point whose target breaks a rule of its compute model or design (``invalid``), or whose model
does not fit the target's memory or cannot run on it (``infeasible``), is a row with its
``status`` and ``reason``, never an abort. Columns (units in their names):

- ``latency_s``: the whole run (prefill + decode) at the target's clock;
- ``tokens_per_s`` and ``energy_per_token_j``: decode tokens (one per sequence and step) per
  decode second and the decode energy per token; a prefill-only run: prompt tokens;
- ``energy_j``: dynamic + static energy of the run;
- ``utilisation``: MACs ÷ (cycles × the peak MACs per cycle of the linear layers' precision);
- ``offchip_bytes``: bytes read and written off chip;
- ``area_mm2``: the estimate of :mod:`hw.area` (``None`` where the design has no
  synthesis data); ``perplexity``: the format's accuracy run (``None`` without one).
"""

from __future__ import annotations

import math
from typing import Any

from core.errors import UserError

STATUSES = ("ok", "invalid", "infeasible", "excluded", "error")
"""``ok``; ``invalid``: the target breaks a rule; ``infeasible``: the workload cannot run on it;
``excluded``: a constraint of the sweep fails; ``error``: the simulator failed on the point (a
bug to report: the exception is the reason), so one point never aborts a sweep."""


def evaluate(target_doc: dict, fmt: str | None, trace) -> dict[str, Any]:
    """Simulate ``trace`` on the target ``target_doc`` under ``fmt``: the metric columns plus
    ``status`` and ``reason`` (area and perplexity are added by the caller)."""
    from sim.simulate import simulate
    from sim.target import parse_target

    try:
        target = parse_target(target_doc, "point")
    except UserError as exc:
        return failed("invalid", str(exc).removeprefix("point: "))
    try:
        sim = simulate(trace, target, fmt)
        return {**metrics(sim), "status": "ok", "reason": ""}
    except UserError as exc:
        return failed("infeasible", str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken point must not abort the sweep
        return failed("error", f"{type(exc).__name__}: {exc}")


def failed(status: str, reason: str) -> dict[str, Any]:
    """The row of a point without a result."""
    return {"latency_s": None, "tokens_per_s": None, "energy_j": None, "energy_per_token_j": None,
            "utilisation": None, "offchip_bytes": None, "status": status, "reason": reason}


def metrics(sim) -> dict[str, Any]:
    """The metric columns of one simulation (module docstring), from its per-phase totals."""
    from tapeout.report.document import token_rates

    trace, target, clock = sim.trace, sim.target, sim.clock
    phase = sim.phase_totals()
    cycles = sum(b["cycles"] for b in phase.values())
    energy = sum(b["energy_pj"] for b in phase.values()) * 1e-12
    _, tps, per_token = token_rates(trace, clock, phase)
    peak = target.compute.precisions[sim.linear_precision].macs_per_cycle
    macs = sum(b["macs"] for b in phase.values())
    return {"latency_s": cycles / clock, "tokens_per_s": tps if math.isfinite(tps) else None,
            "energy_j": energy, "energy_per_token_j": per_token,
            "utilisation": macs / (cycles * peak) if cycles else None,
            "offchip_bytes": int(sum(b["bytes"] for b in phase.values()))}
