"""The named OliVe designs of ``tapeout verilog / verify / synth`` and their parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib import wiring

from core.errors import UserError
from hw.olive.array import OvpSystolicArray, accumulator_width
from hw.olive.decoder import OvpDecoder, value_widths
from hw.olive.encoder import OvpEncoder
from hw.olive.pe import OvpPe
from hw.verilog import GeneratedVerilog, generate
from sim.olive.design import array_problem

DEFAULT_ARRAY = (8, 8)
"""Array size (rows, cols) when no target is given: small enough for a quick bench."""
MAX_ARRAY_SIDE = 128
"""Largest array side the RTL is generated for (PEs per row or column): elaboration and Verilog
grow with rows × cols; 128 × 128 is 4× the largest published OliVe/ANT array."""


@dataclass(frozen=True)
class DesignParams:
    """What a design is elaborated from: OVP code width and (for the array) its size. The array
    is one design for both widths (``bits`` selects the mode its bench runs, not the RTL)."""

    bits: int = 4
    rows: int = DEFAULT_ARRAY[0]
    cols: int = DEFAULT_ARRAY[1]


def _pe(p: DesignParams) -> OvpPe:
    """A stand-alone PE with lanes of one OVP width (the array's PEs are the fusable 4-bit
    ones, :class:`~hw.olive.array.OvpSystolicArray`)."""
    exp_w, int_w = value_widths(p.bits)
    return OvpPe(exp_width=exp_w, int_width=int_w, acc_width=accumulator_width(p.bits))


DESIGNS: dict[str, tuple[str, Callable[[DesignParams], wiring.Component]]] = {
    "olive-encoder": ("olive_encoder", lambda p: OvpEncoder(p.bits)),
    "olive-decoder": ("olive_decoder", lambda p: OvpDecoder(p.bits)),
    "olive-pe": ("olive_pe", _pe),
    "olive-array": ("olive_array", lambda p: OvpSystolicArray(p.rows, p.cols)),
}
"""Design name → (Verilog top module stem, constructor)."""


def check_design(name: str) -> None:
    if name not in DESIGNS:
        raise UserError(f"unknown design {name!r}; known designs: {', '.join(DESIGNS)}")


def resolve_params(design: str, *, bits: int = 4, target: str | None = None) -> DesignParams:
    """Parameters of ``design``: ``bits`` from the option, array size from ``target``'s
    compute rows × cols (any target spec, see ``tapeout targets``) or :data:`DEFAULT_ARRAY`."""
    check_design(design)
    if bits not in (4, 8):
        raise UserError(f"--bits must be 4 or 8 (OVP-4 / OVP-8), got {bits}")
    if target is None:
        return DesignParams(bits)
    from sim.target import load_target

    spec = load_target(target)
    rows, cols = spec.compute.rows, spec.compute.cols
    problem = array_problem(rows, cols) if design == "olive-array" else None
    if problem:
        raise UserError(f"target {target}: {problem}")
    if design == "olive-array" and max(rows, cols) > MAX_ARRAY_SIDE:
        raise UserError(f"target {target}: a {rows} × {cols} array is larger than the RTL generator "
                        f"builds (at most {MAX_ARRAY_SIDE} per side)")
    return DesignParams(bits, rows, cols)


def elaborate(design: str, params: DesignParams) -> GeneratedVerilog:
    """Verilog of ``design`` with top module ``<stem>_b<bits>`` (the array, both widths in one:
    ``olive_array_<rows>x<cols>``)."""
    check_design(design)
    stem, build = DESIGNS[design]
    top = f"{stem}_b{params.bits}"
    shown = {"design": design, "bits": params.bits}
    if design == "olive-array":
        top = f"{stem}_{params.rows}x{params.cols}"
        shown = {"design": design, "bits": [4, 8], "rows": params.rows, "cols": params.cols}
    return generate(build(params), top, shown)
