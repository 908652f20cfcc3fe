"""GOBO's compute models (:mod:`sim.gobo.design`): ``p`` below is the fraction of weights the
design's ``outlier_format`` keeps as FP32 outliers (measured, :mod:`sim.compute.outliers`).

``gobo-systolic`` — the accelerator: output stationary, the ``systolic-os`` fold formula for the
dense FP16 array. Per weight element entering the array (once per fold of rows) one centroid
lookup; every position is multiplied in FP16 (an outlier position's index is skipped by the
result, not by the PE). The ``p·k·n`` outliers meet each of the m activations on the FP32
outlier PEs (one per ``outlier_share`` dense PEs), in a pipeline beside the array, so a tile
takes the longer of the two. Outlier lists (FP32 value + 32-bit position, as the format stores
them) are read from the weight buffer with the weights; their bits are in the format's storage
bits (DRAM traffic).

``gobo-gpu`` — GOBO on a tensor-core GPU (``gpu-roofline`` otherwise): the GPU has no lookup
unit, so each thread block of ``dequant_block_rows`` rows dequantizes the weight tile it reads
(``m / rows · k·n`` weights × ``dequant_ops_per_weight`` CUDA-core operations; charged in
proportion to a tile's rows, so a GEMM costs the same however the mapper splits M), then the FP16
tensor cores run the dense product; the outliers are a sparse FP32 pass on the CUDA cores
(``p·m·k·n`` FMAs). The three phases are charged one after another (the dequantized tile is
what the MMAs read; the outlier pass adds into the finished output): an assumption, pessimistic
where a real kernel overlaps dequantization of the next tile with the current MMAs.
"""

from __future__ import annotations

import math

from sim.compute.outliers import outlier_fraction
from sim.compute.registry import TileCost, register_compute_model
from sim.compute.roofline import GpuRoofline
from sim.compute.systolic import SystolicOutputStationary
from sim.gobo import design


@register_compute_model("gobo-systolic")
class GoboSystolic(SystolicOutputStationary):
    design_schema = design.GoboSystolicDesign

    design_rules = staticmethod(design.check)

    def __init__(self, target):
        super().__init__(target)
        self.p_weight = outlier_fraction(self.design.outlier_format, "weight")
        self.outlier_pes = self.rows * self.cols // self.design.outlier_share

    @classmethod
    def actions(cls, target) -> list[str]:
        return super().actions(target) + [design.LOOKUP_ACTION, design.OUTLIER_MAC_ACTION]

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        cost = super().matmul(tile, precision, density, first_k)
        if precision.weight_bits >= 16:         # FP16 weights (attention, LM head): no table
            return cost
        m, k, n = tile
        folds_m = math.ceil(m / self.rows)
        outlier_products = self.p_weight * m * k * n
        cycles = max(cost.cycles, math.ceil(outlier_products / self.outlier_pes))
        actions = dict(cost.actions)
        actions[design.LOOKUP_ACTION] = k * n * folds_m
        actions[design.OUTLIER_MAC_ACTION] = outlier_products
        actions["sram.weights.read"] += self.p_weight * k * n * design.OUTLIER_ENTRY_BITS * folds_m
        return TileCost(cycles, actions)


@register_compute_model("gobo-gpu")
class GoboGpu(GpuRoofline):
    design_schema = design.GoboGpuDesign

    design_rules = staticmethod(design.check)

    def __init__(self, target):
        super().__init__(target)
        self.p_weight = outlier_fraction(self.design.outlier_format, "weight")

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        cost = super().matmul(tile, precision, density, first_k)
        if precision.weight_bits >= 16:         # FP16 weights (attention, LM head): no table
            return cost
        m, k, n = tile
        d, lanes = self.design, self.target.vector.lanes
        dequant = math.ceil(m / d.dequant_block_rows * k * n * d.dequant_ops_per_weight / lanes)
        outliers = math.ceil(self.p_weight * m * k * n / lanes)
        return TileCost(cost.cycles + dequant + outliers, cost.actions)
