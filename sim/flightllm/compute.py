"""``flightllm-mpe``: FlightLLM's matrix engine as configurable sparse DSP chains
(:class:`hw.flightllm.chain.CsdChain`, rules in :mod:`sim.flightllm.design`).

``compute.rows`` chains of ``compute.cols`` = L slices. A run is one token pair × ``L/N`` output
rows × the tile's K (padded to whole groups of 128: the chain dequantizes whole groups) and
costs exactly what the RTL measures for one run on an idle chain,
:func:`sim.flightllm.tile.csd_chain_run_cycles` = ``K/16 + L + 2``. A tile of (m, k, n) needs
``⌈m/2⌉·⌈n/(L/N)⌉`` runs, spread over the chains in waves of ``rows`` runs, one after another.
N is the layer's own (its weight density reaches the model through the per-op numerics seam:
``flightllm-w4s`` keeps 4 of 16 in q/k projections): the smallest N of the target's
``compute.sparsity.n`` with N/16 ≥ the density; a dense layer, or a target without N:M
sparsity, runs at N = 16 (so a target's chains have at least 16 slices). An odd m leaves one packed lane idle in the last pair — decode (m = 1)
uses half of each slice: the chain packs two tokens, and the paper's other option (two rows
sharing one activation) is not built.

Energy: one MAC action per kept product; SRAM bits as the chain reads them — each token pair's
activations once per group of ``L/N`` rows, each run's kept weight codes with their 4-bit
indices (dense layers store none) once per token pair, FP32 outputs written once (read back
when the mapper splits K). The output stage's FP32 operations are not charged separately here.
"""

from __future__ import annotations

import math

from sim.compute.registry import ComputeModel, TileCost, register_compute_model
from sim.flightllm import design
from sim.flightllm.tile import csd_chain_run_cycles
from sim.formats.flightllm import BLOCK, GROUP, INDEX_BITS


@register_compute_model("flightllm-mpe")
class FlightLlmMpe(ComputeModel):
    dataflow = "dot-product"
    design_schema = design.CsdChainDesign

    design_rules = staticmethod(design.check)

    def keep(self, density: float) -> int:
        """N of N:16 for weights of ``density`` (:func:`sim.flightllm.design.keep_for`)."""
        return design.keep_for(self.target, density)

    def matmul(self, tile, precision, density, first_k) -> TileCost:
        m, k, n = tile
        length, chains = self.design.chain_length, self.rows
        keep = self.keep(density)
        pairs = math.ceil(m / design.TOKENS)
        row_sets = math.ceil(n / design.segments(length, keep))
        waves = math.ceil(pairs * row_sets / chains)
        k_run = math.ceil(k / GROUP) * GROUP
        cycles = waves * csd_chain_run_cycles(length, k_run)
        kept = keep / BLOCK
        index_bits = INDEX_BITS if keep < BLOCK else 0
        out = m * n * self.acc_bits
        actions = {precision.mac_action: m * k * n * kept,
                   "sram.inputs.read": m * k * precision.act_bits * row_sets,
                   "sram.weights.read": k * n * kept * (precision.weight_bits + index_bits) * pairs,
                   "sram.outputs.write": out, "sram.outputs.read": 0 if first_k else out}
        return TileCost(cycles, actions)
