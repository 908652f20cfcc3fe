"""Cycles of one run of the configurable sparse DSP chain — the one formula the RTL bench
measures against (:class:`hw.flightllm.chain.CsdChain`) and the FlightLLM cycle model uses.

A run is one token pair × ``length / N`` output rows over ``k`` input channels (whole weight
groups): one block of 16 input channels per cycle, the chain idle before and after.
"""

from __future__ import annotations

from sim.flightllm.design import BLOCK, BLOCKS_PER_GROUP

CASCADE = 1
"""Each DSP48 slice registers its P (cycles per slice; the last block leaves slice L − 1 at
``L − 1`` cycles after slice 0)."""
REDUCE = 1
"""The reduction node adds the last block into the group sum (cycles)."""
DEQUANTIZE = 1
"""The group sum is dequantized into the FP32 accumulator ``acc + s·float32(P)`` (cycles)."""
TOKEN_SCALE = 1
"""The accumulator is multiplied by the per-token activation scale (cycles)."""


def csd_chain_run_cycles(length: int, k: int, *, dequant: bool = True) -> int:
    """Cycles from presenting a run's first block to its outputs being complete (that cycle
    counted), on an idle chain of ``length`` slices:

    ``k / 16`` blocks, one per cycle (the edge that samples a block also registers slice 0's
    P) + ``(length − 1)·CASCADE`` to the last slice + ``REDUCE`` + (with the dequantizing output
    stage) ``DEQUANTIZE + TOKEN_SCALE`` = ``k/16 + length + 2``; without it ``k/16 + length``.
    Independent of N: the last slice always ends a segment.
    """
    if length < 1 or k < BLOCK * BLOCKS_PER_GROUP or k % (BLOCK * BLOCKS_PER_GROUP):
        raise ValueError(f"a run needs length ≥ 1 and k a positive multiple of "
                         f"{BLOCK * BLOCKS_PER_GROUP}; got {length}, {k}")
    stages = k // BLOCK + (length - 1) * CASCADE + REDUCE
    return stages + (DEQUANTIZE + TOKEN_SCALE if dequant else 0)
