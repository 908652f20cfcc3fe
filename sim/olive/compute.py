"""``olive-systolic``: the compute model of the OliVe array (:class:`hw.olive.array.OvpSystolicArray`).

Output stationary, like ``systolic-os``, but every fold costs exactly what the RTL measures for
one tile — :func:`sim.olive.tile.ovp_array_tile_cycles` (one OVP pair, i.e. two elements along
K, per PE per cycle; edge decoders; result copy). ``folds = ⌈m/R⌉·⌈n/C⌉``; folds run one after
another, each on an idle array, as in the RTL bench.
"""

from __future__ import annotations

import math

from sim.compute.registry import TileCost, register_compute_model
from sim.compute.systolic import SystolicOutputStationary
from sim.olive.tile import ovp_array_tile_cycles


@register_compute_model("olive-systolic")
class OliveSystolic(SystolicOutputStationary):
    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        R, C = self.rows, self.cols
        folds = math.ceil(m / R) * math.ceil(n / C)
        cycles = folds * ovp_array_tile_cycles(R, C, k)
        return self._cost(tile, precision, density, first_k, cycles,
                          a_reads=math.ceil(n / C), w_reads=math.ceil(m / R))
