"""``olaccel``: OLAccel's dense 4-bit array plus its outlier path (:mod:`sim.olaccel.design`).

Output stationary, the ``systolic-os`` fold formula for the dense lanes (bit-fusion PEs: four
4-bit lanes in each 8/4-bit PE). At the design's ``outlier_precision`` a tile (m, k, n) also pays
for the outlier path, with ``p_w`` and ``p_a`` the fractions of weights and activations the
design's ``outlier_format`` puts on its sparse list:

* **Outlier weights, cycles.** Each group of ``lane_group`` lanes owns one extra MAC, which takes
  one outlier weight per step; every further outlier of that step in the group costs a cycle.
  Each streaming step therefore takes ``1 + E[max(0, X − 1)]`` cycles on average, ``X ~
  Binomial(lane_group, p_w)`` (:func:`sim.compute.outliers.extra_steps_per_step`), with the
  groups decoupled by their input FIFOs (the expectation, not the worst group: optimistic for
  OLAccel; a lock-step array would wait for its slowest group).
* **Outlier activations, cycles.** Each outlier activation meets all n weights of its row on the
  ``activation_outlier_macs`` high-precision MACs: ``p_a·m·k·n`` products, in a pipeline beside
  the dense lanes, so the tile takes the longer of the two.
* **Energy.** The dense lanes multiply every position (an outlier's dense code is 0);
  ``(p_w + p_a)·m·k·n`` outlier products at :data:`~sim.olaccel.design.OUTLIER_MAC_ACTION`; the
  outlier lists are read from the buffers each time their tensor is (int8 value + the column
  index within the tile's row, ⌈log2 k⌉ bits per entry), beside the dense codes. Their being
  unaligned costs nothing beyond these bits here (no gather penalty is modelled).
* **Traffic.** The lists' bits (values, positions, row pointers) are in the format's storage
  bits, which the engine moves (:mod:`sim.numerics`).

Other precisions (the 8-bit mode: first/last layers, attention) run the plain fold formula.
"""

from __future__ import annotations

import math

from sim.compute.outliers import extra_steps_per_step, index_bits, outlier_fraction
from sim.compute.registry import TileCost, register_compute_model
from sim.compute.systolic import SystolicOutputStationary
from sim.olaccel import design


@register_compute_model("olaccel")
class OlaccelArray(SystolicOutputStationary):
    design_schema = design.OlaccelDesign

    design_rules = staticmethod(design.check)

    def __init__(self, target):
        super().__init__(target)
        d = self.design
        self.p_weight = outlier_fraction(d.outlier_format, "weight")
        self.p_act = outlier_fraction(d.outlier_format, "activation")
        self.stall = extra_steps_per_step(d.lane_group, self.p_weight)

    @classmethod
    def actions(cls, target) -> list[str]:
        return super().actions(target) + [design.OUTLIER_MAC_ACTION]

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        if precision != self.target.compute.precisions[self.design.outlier_precision]:
            return super().matmul(tile, precision, density, first_k)
        m, k, n = tile
        R, C = self.rows, self.cols
        folds_m, folds_n = math.ceil(m / R), math.ceil(n / C)
        steps = self.steps(k, precision, density)
        dense = folds_m * folds_n * (math.ceil(steps * (1 + self.stall)) + R + C - 2)
        act_path = math.ceil(self.p_act * m * k * n / self.design.activation_outlier_macs)
        cost = self._cost(tile, precision, density, first_k, max(dense, act_path),
                          a_reads=folds_n, w_reads=folds_m)
        entry = design.OUTLIER_VALUE_BITS + index_bits(k)
        cost.actions[design.OUTLIER_MAC_ACTION] = (self.p_weight + self.p_act) * m * k * n
        cost.actions["sram.weights.read"] += self.p_weight * k * n * entry * folds_m
        cost.actions["sram.inputs.read"] += self.p_act * m * k * entry * folds_n
        return cost
