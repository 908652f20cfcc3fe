"""Write a simulation's report directory: report.json, report.md and the PNGs, each atomically."""

from __future__ import annotations

from pathlib import Path

from sim.simulate import Simulation
from tapeout.files import write_bytes_atomic, write_text_atomic
from tapeout.report.document import dumps_report
from tapeout.report.markdown import render_markdown

FIGURES = ("latency.png", "energy.png", "roofline.png")


def write_report(doc: dict, sim: Simulation, directory: Path, text: str | None = None) -> list[Path]:
    """Write the report of ``sim`` (document ``doc``; ``text`` = its JSON if already dumped)."""
    from tapeout.report import plots

    directory = Path(directory)
    pngs = {"latency.png": plots.latency_breakdown(doc), "energy.png": plots.energy_breakdown(doc),
            "roofline.png": plots.roofline(doc, sim)}
    written = [write_bytes_atomic(directory / name, data) for name, data in pngs.items()]
    written.append(write_text_atomic(directory / "report.md", render_markdown(doc, list(FIGURES))))
    written.append(write_text_atomic(directory / "report.json", text or dumps_report(doc, sim)))
    return written
