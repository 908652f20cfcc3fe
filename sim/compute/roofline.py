"""GPU roofline: a tile takes its MACs over the achieved tensor throughput (peak MACs per cycle
× ``compute.achieved_fraction``); the memory side of the roofline is the engine's load/store
units at the achieved bandwidth (``memory.efficiency``), overlapped by double buffering.
Sparse tensor-core modes are not modelled: ``density`` is ignored."""

from __future__ import annotations

import math

from sim.compute.registry import ComputeModel, TileCost, register_compute_model


@register_compute_model("gpu-roofline")
class GpuRoofline(ComputeModel):
    dataflow = "roofline"

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        macs = m * k * n                  # dense tensor cores: N:M zeros are multiplied too
        rate = precision.macs_per_cycle * self.target.compute.achieved_fraction
        actions = {precision.mac_action: macs}
        actions.update(self.sram_actions(tile, precision, first_k, a_reads=1, w_reads=1))
        return TileCost(max(1, math.ceil(macs / rate)), actions)
