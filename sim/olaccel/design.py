"""OLAccel's own parameters (``design:`` of an ``olaccel`` target) and the rules a target must
meet. What the paper states (ISCA 2018 abstract; sources in docs/baselines.md): dense 4-bit MAC
lanes for the normal values; one extra MAC per group of SIMD lanes takes a lane group's outlier
*weight*, so a group holding one outlier costs no cycle;
outlier *activations* run on dedicated high-precision MACs that update the partial sums in a
pipeline with the 4-bit lanes. Outliers are kept in a sparse list with their positions::

    design:
      outlier_precision: int4       # the mode with the outlier path (the 8-bit mode has none)
      outlier_format: olaccel-w4a4  # the fraction of weights / activations on the list
      lane_group: 16                # 4-bit lanes sharing one extra outlier-weight MAC
      activation_outlier_macs: 72   # dedicated high-precision MACs (outlier activations)
"""

from __future__ import annotations

from pydantic import Field

from spec.schema import Strict, TargetSpec
from spec.yamlfile import SpecProblem

OUTLIER_MAC_ACTION = "mac.olaccel.outlier"
"""Energy action of one outlier product (an outlier weight or activation times its partner)."""
OUTLIER_VALUE_BITS = 8
"""Bits of an outlier's value on the list (``olaccel-w4a4``: int8 outliers)."""


class OlaccelDesign(Strict):
    """``design:`` of an ``olaccel`` target (module docstring)."""

    outlier_precision: str
    outlier_format: str
    lane_group: int = Field(ge=1, le=4096)
    activation_outlier_macs: int = Field(ge=1, le=1 << 20)


def check(target: TargetSpec, design: OlaccelDesign) -> None:
    """Raise :class:`SpecProblem` unless ``target`` is an OLAccel array this model describes."""
    from core.errors import UserError
    from sim.compute.outliers import outlier_fraction

    c = target.compute
    if design.outlier_precision not in c.precisions:
        raise SpecProblem("design.outlier_precision",
                          f"{design.outlier_precision!r} is not one of compute.precisions "
                          f"({', '.join(c.precisions)})")
    lanes = c.precisions[design.outlier_precision].macs_per_cycle
    if lanes % design.lane_group:
        raise SpecProblem("design.lane_group", f"the {lanes:g} lanes of {design.outlier_precision} "
                                               f"do not split into groups of {design.lane_group}")
    if c.sparsity.pattern != "none":
        raise SpecProblem("compute.sparsity", "OLAccel multiplies every normal value (pattern: none)")
    try:
        fractions = [outlier_fraction(design.outlier_format, role) for role in ("weight", "activation")]
    except UserError as exc:
        raise SpecProblem("design.outlier_format", str(exc).removeprefix("design.outlier_format: ")) from None
    if not all(fractions):
        raise SpecProblem("design.outlier_format", f"{design.outlier_format} does not keep both weight and "
                                                   "activation outliers; OLAccel's path needs an OLAccel "
                                                   "format (olaccel-w4a4)")
