"""``mixpe``: the compute model of the MixPE array (:class:`hw.mixpe.array.MixPeArray`).

Output stationary: a fold maps ``rows`` tokens × ``cols`` output channels onto the array and
streams the reduction through, one element per PE per cycle. Every fold costs exactly what the
RTL measures for one tile — :func:`sim.mixpe.tile.mixpe_array_tile_cycles` — with the reduction
padded to whole weight groups (the RTL dequantizes whole groups only) and, for an INT8 operand
(attention), two 4-bit code passes (:func:`sim.mixpe.design.passes`). Folds run one after
another, each on an idle array, as in the RTL bench.

Energy is charged where the RTL spends it: one MAC action per product; once per (output,
group, pass) the column dequantizer (:data:`~sim.mixpe.design.DEQUANT_ACTION`: FP32 multiply
and add, plus ``P − z·S`` for W4A8 or ``z·σ`` and ``p − t`` for W4A16); once per (token, element,
pass) and fold the row's group sum (:data:`~sim.mixpe.design.GROUP_SUM_ACTION`, recomputed by
every fold, as the RTL does); and for W4A8 once per output the token-scale multiply. MAC and
group-sum counts are of real elements: the zeros padding K to whole groups stream through the
cycles but switch nothing in a shift-and-add PE (every shifted copy is gated off).

When the mapper splits K (partial sums spilled and read back, ``first_k`` false on the later
tiles), the model assumes the column accumulators are reloaded with the spilled FP32 partial
sums and the token scale applied once, after the last K tile (charged with the first). The RTL
does not have that reload port — every tile starts its accumulators at +0 — so such a split is
a stated extension; the mapper never splits a weight group (K tiles are whole groups).
"""

from __future__ import annotations

import math

from sim.compute.registry import TileCost, register_compute_model
from sim.compute.systolic import SystolicOutputStationary
from sim.mixpe import design
from sim.mixpe.tile import mixpe_array_tile_cycles


@register_compute_model("mixpe")
class MixPeArrayModel(SystolicOutputStationary):
    design_schema = design.MixPeDesign

    design_rules = staticmethod(design.check)

    @classmethod
    def actions(cls, target) -> list[str]:
        d = cls.parse_design(target)
        extra = [design.DEQUANT_ACTION[d.activation], design.GROUP_SUM_ACTION[d.activation]]
        if d.activation == "int8":
            extra.append(design.TOKEN_SCALE_ACTION)
        return super().actions(target) + extra

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        d = self.design
        passes = design.passes(precision)
        groups = math.ceil(k / d.group) * passes
        folds_n = math.ceil(n / self.cols)
        folds = math.ceil(m / self.rows) * folds_n
        cycles = folds * mixpe_array_tile_cycles(self.rows, self.cols, groups * d.group)
        cost = self._cost(tile, precision, density, first_k, cycles,
                          a_reads=folds_n, w_reads=math.ceil(m / self.rows))
        cost.actions[design.DEQUANT_ACTION[d.activation]] = m * n * groups
        cost.actions[design.GROUP_SUM_ACTION[d.activation]] = m * k * passes * folds_n
        if d.activation == "int8" and first_k:  # once per output (see the module docstring)
            cost.actions[design.TOKEN_SCALE_ACTION] = m * n
        return cost
