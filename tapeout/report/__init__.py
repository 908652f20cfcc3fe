"""Report rendering: ``report.json`` (stable schema, docs/report-format.md), ``report.md``, PNGs."""

from tapeout.report.document import build_report, dumps_report
from tapeout.report.write import write_report

__all__ = ["build_report", "dumps_report", "write_report"]
