"""The OliVe array's own parameters and rules (papers/olive.md "Hardware"), shared by the
``olive-systolic`` compute model (checked when a target is loaded) and the RTL (:mod:`hw.olive`),
so the simulator and the RTL agree on what an OVP array is. (The RTL generator's own size
limits, :mod:`hw.registry`, bound only what it builds, not what may be simulated.)

The array is ``rows × cols`` PEs; each takes one OVP pair — two MAC lanes — per cycle. It has
two modes, chosen per tile: OVP-4, every PE one output; OVP-8, each 2 × 2 group of PEs fused
into one 8-bit operation (one extra adder per 4 PEs). A target names the mode of each of its
precisions in its ``design:`` section::

    design:
      modes: {ovp4: 4, ovp8: 8}     # precision → OVP code bits of the mode that runs it
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spec.schema import Strict, TargetSpec
from spec.yamlfile import SpecProblem

LANES = 2
"""MAC lanes per PE: one OVP pair (two elements along K) per cycle."""
FUSED_SIDE = {4: 1, 8: 2}
"""Mode (OVP code bits) → PEs per side of the group that computes one output."""
ACCUMULATOR_BITS = (32, 63)
"""Range of a PE's accumulator word (bits): OVP-4 sums are int32 (papers/olive.md), the 8-bit
mode keeps its int64 sums in two words, and a word must fit a signed 64-bit integer on the host."""


class OliveDesign(Strict):
    """``design:`` of an ``olive-systolic`` target."""

    modes: dict[str, Literal[4, 8]] = Field(min_length=1)
    """Precision name → OVP code bits of the array mode that runs it (8: 2 × 2 PEs fused)."""


def array_problem(rows: int, cols: int) -> str | None:
    """Why ``rows × cols`` PEs cannot form an OVP array (its 2 × 2 8-bit groups need even
    sides), or ``None``."""
    if rows < 2 or cols < 2 or rows % 2 or cols % 2:
        return (f"the OVP array needs an even number (≥ 2) of rows and columns for its 2 × 2 "
                f"8-bit groups, got {rows} × {cols}")
    return None


def accumulator_problem(bits: int) -> str | None:
    """Why a PE accumulator of ``bits`` cannot hold the golden model's sums, or ``None``."""
    low, high = ACCUMULATOR_BITS
    if not low <= bits <= high:
        return (f"the OVP PE accumulator must be {low} to {high} bits (OVP-4 sums are int32; the "
                f"8-bit mode holds its int64 sums in two PE words), got {bits}")
    return None


def mode_macs_per_cycle(rows: int, cols: int, bits: int) -> int:
    """MACs per cycle of the whole array in the mode of ``bits``: two lanes per output."""
    side = FUSED_SIDE[bits]
    return LANES * (rows // side) * (cols // side)


def check(target: TargetSpec, design: OliveDesign) -> None:
    """Raise :class:`SpecProblem` unless ``target`` describes an OVP array (the RTL's design)."""
    c = target.compute
    for key, problem in (("compute", array_problem(c.rows, c.cols)),
                         ("compute.accumulator_bits", accumulator_problem(c.accumulator_bits))):
        if problem:
            raise SpecProblem(key, problem)
    if c.sparsity.pattern != "none":
        raise SpecProblem("compute.sparsity", "the OVP array multiplies every weight; it has no "
                                              "N:M sparsity (pattern: none)")
    for name, p in c.precisions.items():
        if name not in design.modes:
            raise SpecProblem("design.modes", f"no mode for precision {name!r}; give its OVP code "
                                              f"bits (4, or 8 for 2 × 2 fused PEs)")
        bits = design.modes[name]
        if (p.weight_bits, p.act_bits) != (bits, bits):
            raise SpecProblem(f"compute.precisions.{name}", f"the OVP-{bits} mode takes {bits}-bit "
                              f"weights and activations, got W{p.weight_bits}A{p.act_bits}")
        rate = mode_macs_per_cycle(c.rows, c.cols, bits)
        if p.macs_per_cycle != rate:
            raise SpecProblem(f"compute.precisions.{name}.macs_per_cycle",
                              f"a {c.rows} × {c.cols} OVP array in its OVP-{bits} mode completes "
                              f"{rate} MACs per cycle (two lanes per output), got {p.macs_per_cycle:g}")
    unused = sorted(set(design.modes) - set(c.precisions))
    if unused:
        raise SpecProblem("design.modes", f"{', '.join(unused)} is not one of compute.precisions")
