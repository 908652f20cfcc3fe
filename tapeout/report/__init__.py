"""Reports: ``report.json`` of one simulation (:mod:`.document`, stable schema,
docs/report-format.md) with its markdown and PNGs (:mod:`.write`); the accuracy report
(:mod:`.accuracy`); reproduction studies (:mod:`.study`) and their runner (:mod:`.reproduction`).

The package imports nothing itself, so ``tapeout`` starts without the simulator: import the
module you need.
"""
