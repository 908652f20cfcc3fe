"""Area estimates of a target (mm²), where the design has synthesis data (``tapeout sweep``).

``area = PEs × NAND2-equivalents of one PE × NAND2 area + Σ buffer KiB × SRAM area per KiB``:

- the PE is the RTL unit the target's ``area.pe_unit`` names, synthesised by ``tapeout synth``'s
  generic flow (NAND2-equivalents = CMOS transistors / 4, :mod:`hw.synth`), once per distinct
  Verilog and cached by its SHA-256;
- the NAND2 cell and SRAM areas are those of the technology node of the target's energy table
  (``hw/area_nodes.yaml``, each with its source; several are derived and say so).

Not counted: SFU, decoders outside the PEs, control, wiring and the off-chip interface. A target
without ``area`` (GPUs, FPGAs, baselines without RTL) or on a node the table lacks has no
estimate (``None``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

from core.errors import UserError
from spec.schema import TargetSpec

NODES_FILE = Path(__file__).resolve().parent / "area_nodes.yaml"
"""NAND2 and SRAM area per technology node, each with its source."""


@cache
def node_table() -> dict[str, dict]:
    from spec.yamlfile import load_yaml

    return load_yaml(NODES_FILE)["nodes"]


def target_node(target: TargetSpec) -> str | None:
    """The node most entries of the target's energy table are at (``"45 nm scaled to 28 nm"``
    counts as 28 nm)."""
    from sim.energy.table import load_table

    nodes = Counter()
    for entry in load_table(target.energy).entries.values():
        text = entry.node or ""
        found = re.findall(r"(\d+(?:\.\d+)?) ?nm", text.split("scaled to")[-1])
        if found:
            nodes[f"{found[0]} nm"] += 1
    return nodes.most_common(1)[0][0] if nodes else None


@cache
def pe_nand2(unit_name: str, params: tuple[tuple[str, str], ...]) -> float:
    """NAND2-equivalents of one ``unit_name`` with ``params`` (cached by the Verilog's hash)."""
    from hw.registry import elaborate, get_unit, resolve_params
    from hw.synth import synthesize
    from models.cache import cached_dir

    unit = get_unit(unit_name)
    design = elaborate(unit, resolve_params(unit, options=dict(params)))

    def build(tmp: Path) -> None:
        result = synthesize(design)
        (tmp / "size.json").write_text(json.dumps({"top": result.top, "transistors": result.transistors,
                                                   "nand2_equivalents": result.nand2_equivalents}))

    directory = cached_dir(f"synth-{design.sha256[:32]}", {"verilog_sha256": design.sha256}, build)
    return float(json.loads((directory / "size.json").read_text())["nand2_equivalents"])


def area_mm2(target: TargetSpec) -> float | None:
    """The estimate of the module docstring for ``target`` (``None``: no synthesis data)."""
    if target.area is None:
        return None
    node = node_table().get(target_node(target) or "")
    if node is None:
        return None
    params = tuple(sorted((k, str(v).lower() if isinstance(v, bool) else str(v))
                          for k, v in target.area.params.items()))
    try:
        nand2 = pe_nand2(target.area.pe_unit, params)
    except UserError as exc:
        raise UserError(f"target {target.name}: area.pe_unit: {exc}") from None
    logic = target.compute.rows * target.compute.cols * nand2 * node["nand2_um2"]
    b = target.buffers
    kib = sum(int(buf.size) for buf in (b.weights, b.inputs, b.outputs)) / 1024
    return (logic + kib * node["sram_um2_per_kib"]) / 1e6


