"""``olive-systolic``: the compute model of the OliVe array (:class:`hw.olive.array.OvpSystolicArray`).

Output stationary, like ``systolic-os``, but every fold costs exactly what the RTL measures for
one tile — :func:`sim.olive.tile.ovp_array_tile_cycles` (one OVP pair, i.e. two elements along
K, per PE per cycle; edge decoders; result copy). Folds run one after another, each on an idle
array, as in the RTL bench.

The target's ``design.modes`` names the mode of each precision (:mod:`sim.olive.design`). In the
8-bit mode four 4-bit PEs (2 × 2) form one 8-bit operation, so a fold holds (R/2) × (C/2)
outputs, each taking one 8-bit pair per cycle (papers/olive.md, "one extra adder per 4 PEs");
operands still cross all R × C PEs, so a fold costs the same tile cycles as in the 4-bit mode
(measured on the RTL in both modes, ``tapeout verify olive-array --bits 8``).
"""

from __future__ import annotations

import math

from sim.compute.registry import TileCost, register_compute_model
from sim.compute.systolic import SystolicOutputStationary
from sim.olive import design
from sim.olive.tile import ovp_array_tile_cycles


@register_compute_model("olive-systolic")
class OliveSystolic(SystolicOutputStationary):
    design_schema = design.OliveDesign

    design_rules = staticmethod(design.check)

    def __init__(self, target):
        super().__init__(target)
        precisions = target.compute.precisions
        self._side = {p: design.FUSED_SIDE[self.design.modes[name]] for name, p in precisions.items()}

    def fused_side(self, precision) -> int:
        """PEs per side of the group computing one output: 1 (OVP-4) or 2 (OVP-8, fused)."""
        return self._side[precision]

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        side = self.fused_side(precision)
        rows, cols = self.rows // side, self.cols // side
        folds = math.ceil(m / rows) * math.ceil(n / cols)
        cycles = folds * ovp_array_tile_cycles(self.rows, self.cols, k)
        return self._cost(tile, precision, density, first_k, cycles,
                          a_reads=math.ceil(n / cols), w_reads=math.ceil(m / rows))
