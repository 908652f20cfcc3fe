"""``olive-systolic``: the compute model of the OliVe array (:class:`hw.olive.array.OvpSystolicArray`).

Output stationary, like ``systolic-os``, but every fold costs exactly what the RTL measures for
one tile — :func:`sim.olive.tile.ovp_array_tile_cycles` (one OVP pair, i.e. two elements along
K, per PE per cycle; edge decoders; result copy). Folds run one after another, each on an idle
array, as in the RTL bench.

A precision whose ``macs_per_cycle`` is a quarter of the pair rate (``2·R·C``) is the paper's
8-bit mode: four 4-bit PEs (2 × 2) form one 8-bit operation, so a fold holds (R/2) × (C/2)
outputs, each taking one 8-bit pair per cycle (papers/olive.md, "one extra adder per 4 PEs");
operands still cross all R × C PEs, so a fold costs the same tile cycles as in the 4-bit mode
(measured on the RTL in both modes, ``tapeout verify olive-array --bits 8``).
"""

from __future__ import annotations

import math

from core.errors import UserError
from sim.compute.registry import TileCost, register_compute_model
from sim.compute.systolic import SystolicOutputStationary
from sim.olive.tile import ovp_array_tile_cycles

_FUSED_SIDE = {1: 1, 4: 2}  # PEs per operation → PEs per side of the fused group


@register_compute_model("olive-systolic")
class OliveSystolic(SystolicOutputStationary):
    def fused_side(self, precision) -> int:
        """1 for the native pair rate, 2 when 2 × 2 PEs fuse into one wider operation."""
        group = 2 * self.rows * self.cols / precision.macs_per_cycle
        side = _FUSED_SIDE.get(round(group)) if math.isclose(group, round(group)) else None
        if side is None:
            raise UserError(f"target {self.target.name}: olive-systolic needs macs_per_cycle = "
                            f"2·rows·cols (native) or a quarter of it (2 × 2 fused PEs); got "
                            f"{precision.macs_per_cycle:g} for a {self.rows}×{self.cols} array")
        return side

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        side = self.fused_side(precision)
        rows, cols = self.rows // side, self.cols // side
        folds = math.ceil(m / rows) * math.ceil(n / cols)
        cycles = folds * ovp_array_tile_cycles(self.rows, self.cols, k)
        return self._cost(tile, precision, density, first_k, cycles,
                          a_reads=math.ceil(n / cols), w_reads=math.ceil(m / rows))
