"""Systolic arrays, output- and weight-stationary: the tile-cycle formulas SCALE-Sim agrees with.

For an R × C array and a tile of (m, k, n) (A is m × k, B is k × n):

* output stationary (``systolic-os``): each fold maps R rows of C onto the rows and C columns
  onto the columns and streams the reduction through: ``folds = ⌈m/R⌉·⌈n/C⌉``, each taking
  ``k' + R + C − 2`` cycles (skewed fill and drain of R + C − 2 around k' streaming steps).
* weight stationary (``systolic-ws``): each fold pins an R × C block of B: ``folds =
  ⌈k'/R⌉·⌈n/C⌉``, each taking ``m + 2R + C − 2`` cycles (R to preload the weights, then m rows
  streamed with R + C − 2 skew).

SCALE-Sim 3.0.0 reports exactly these totals minus one per layer (it counts from cycle 0):
``tests/sim/test_scalesim.py`` checks it. ``k'`` is the reduction length the PEs step
through: a precision with ``s = macs_per_cycle / (R·C)`` MACs per PE per cycle (bit-fusion: four
4-bit MACs in an 8-bit PE) steps through ``⌈k/s⌉``; N:M weight sparsity the array supports
divides it further by the kept fraction.
"""

from __future__ import annotations

import math

from sim.compute.registry import ComputeModel, TileCost, register_compute_model
from spec.schema import Precision


class _Systolic(ComputeModel):
    def kept(self, density: float) -> float:
        """Fraction of weights the array multiplies: ``density`` if it skips N:M zeros, else 1."""
        return density if self.target.compute.sparsity.pattern != "none" else 1.0

    def steps(self, k: int, precision: Precision, density: float) -> int:
        """Reduction steps through the PEs for ``k`` elements (see module docstring)."""
        per_pe = precision.macs_per_cycle / (self.rows * self.cols)
        return max(1, math.ceil(k * self.kept(density) / per_pe))

    def _cost(self, tile, precision, density, first_k, cycles, a_reads, w_reads) -> TileCost:
        m, k, n = tile
        actions = {precision.mac_action: m * k * n * self.kept(density)}
        actions.update(self.sram_actions(tile, precision, first_k, a_reads, w_reads))
        return TileCost(cycles, actions)


@register_compute_model("systolic-os")
class SystolicOutputStationary(_Systolic):
    dataflow = "output-stationary"

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        R, C = self.rows, self.cols
        folds = math.ceil(m / R) * math.ceil(n / C)
        cycles = folds * (self.steps(k, precision, density) + R + C - 2)
        return self._cost(tile, precision, density, first_k, cycles,
                          a_reads=math.ceil(n / C), w_reads=math.ceil(m / R))


@register_compute_model("systolic-ws")
class SystolicWeightStationary(_Systolic):
    dataflow = "weight-stationary"

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        R, C = self.rows, self.cols
        folds = math.ceil(self.steps(k, precision, density) / R) * math.ceil(n / C)
        cycles = folds * (m + 2 * R + C - 2)
        return self._cost(tile, precision, density, first_k, cycles,
                          a_reads=math.ceil(n / C), w_reads=1)
