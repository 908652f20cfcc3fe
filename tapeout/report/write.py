"""Write a simulation's report directory: report.json, report.md and the PNGs, all or none."""

from __future__ import annotations

from pathlib import Path

from core.files import write_files
from sim.simulate import Simulation
from tapeout.report.document import dumps_report
from tapeout.report.markdown import render_markdown

FIGURES = ("latency.png", "energy.png", "roofline.png")


REPORT_FILES = ("latency.png", "energy.png", "roofline.png", "report.md", "report.json")
"""The files :func:`write_report` writes into its directory."""


def write_report(doc: dict, sim: Simulation, directory: Path, text: str | None = None) -> list[Path]:
    """Write the report of ``sim`` (document ``doc``; ``text`` = its JSON if already dumped).

    Everything is rendered in memory first; then the five files are written together, so a
    failure leaves none of them.
    """
    from tapeout.report import plots

    directory = Path(directory)
    contents = {"latency.png": plots.latency_breakdown(doc), "energy.png": plots.energy_breakdown(doc),
                "roofline.png": plots.roofline(doc, sim),
                "report.md": render_markdown(doc, list(FIGURES)),
                "report.json": text or dumps_report(doc, sim)}
    assert tuple(contents) == REPORT_FILES
    return write_files({directory / name: data for name, data in contents.items()})
