"""GOBO's own parameters (``design:`` of a ``gobo-systolic`` or ``gobo-gpu`` target) and their
rules. GOBO (MICRO 2020 abstract; sources in docs/baselines.md) keeps ≈ 99.9 % of a layer's
weights as 3/4-bit indices into a per-layer table of centroids and the rest, the outliers, as
FP32 values with their positions; activations and compute stay in floating point.

On its accelerator (``gobo-systolic``) a weight index is fetched, looked up in the centroid table
and multiplied in FP16; the outliers go to separate FP32 outlier PEs (one per ``outlier_share``
dense PEs). On a GPU (``gobo-gpu``) there is no lookup hardware: each GEMM thread block
dequantizes its weight tile on the CUDA cores before the FP16 tensor cores use it, and the
outliers are a sparse FP32 pass on the CUDA cores::

    design:
      outlier_format: gobo-w4        # the fraction of weights on the outlier list
      outlier_share: 64              # gobo-systolic: dense PEs per FP32 outlier PE
      dequant_block_rows: 128        # gobo-gpu: rows of a thread block's tile
      dequant_ops_per_weight: 3      # gobo-gpu: CUDA-core operations per weight dequantized
"""

from __future__ import annotations

from pydantic import Field

from core.errors import UserError
from spec.schema import Strict, TargetSpec
from spec.yamlfile import SpecProblem

LOOKUP_ACTION = "gobo.lookup"
"""Energy action of one centroid-table read (index → FP16 value)."""
OUTLIER_MAC_ACTION = "mac.gobo.outlier"
"""Energy action of one FP32 outlier product."""
OUTLIER_ENTRY_BITS = 64
"""Bits of one outlier on the list: FP32 value + 32-bit position, as the GOBO formats store it
(:mod:`sim.formats.gobo`)."""


class GoboSystolicDesign(Strict):
    """``design:`` of a ``gobo-systolic`` target (module docstring)."""

    outlier_format: str
    outlier_share: int = Field(ge=1, le=1 << 20)


class GoboGpuDesign(Strict):
    """``design:`` of a ``gobo-gpu`` target (module docstring)."""

    outlier_format: str
    dequant_block_rows: int = Field(ge=1, le=1 << 16)
    dequant_ops_per_weight: float = Field(gt=0, le=1000)


def check(target: TargetSpec, design: GoboSystolicDesign | GoboGpuDesign) -> None:
    """Raise :class:`SpecProblem` unless ``design.outlier_format`` is a weight-outlier format
    (the list GOBO's side path reads)."""
    from sim.compute.outliers import outlier_fraction

    try:
        weights = outlier_fraction(design.outlier_format, "weight")
    except UserError as exc:
        raise SpecProblem("design.outlier_format", str(exc).removeprefix("design.outlier_format: ")) from None
    if weights == 0:
        raise SpecProblem("design.outlier_format", f"{design.outlier_format} keeps no weight outliers; "
                                                   "GOBO's side path needs a GOBO format (gobo-w3, gobo-w4)")
    if target.compute.sparsity.pattern != "none":
        raise SpecProblem("compute.sparsity", "GOBO multiplies every weight (pattern: none)")
    if isinstance(design, GoboSystolicDesign):
        pes = target.compute.rows * target.compute.cols
        if pes < design.outlier_share:
            raise SpecProblem("design.outlier_share", f"{pes} PEs cannot share one outlier PE per "
                                                      f"{design.outlier_share}")
