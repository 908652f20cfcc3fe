"""Cycles of one tile on the MixPE array — the one formula the RTL bench measures against and
the ``mixpe`` compute model uses.

A tile is ``rows × cols`` outputs over a reduction of ``k`` elements (a whole number of weight
groups) on a ``rows × cols`` output-stationary array (:class:`hw.mixpe.array.MixPeArray`) whose
PEs take one activation and one 4-bit weight code per cycle, W4A8 and W4A16 alike.
"""

from __future__ import annotations

ACCUMULATE = 1
"""A PE adds its last product at the end of the cycle it receives it (cycles)."""
DEQUANTIZE = 1
"""A group's partial sum is dequantized into its output's accumulator one cycle later: the
column's :class:`~hw.mixpe.dequant.GroupDequant` sits between the PE's register and the
accumulator bank (cycles)."""


def mixpe_array_tile_cycles(rows: int, cols: int, k: int) -> int:
    """Cycles from presenting a tile's first element to its outputs being complete (that cycle
    counted), for one tile on an idle array:

    ``k`` elements streamed, one per cycle (the edge that samples an element also loads it into
    the edge register), + ``(rows − 1) + (cols − 1)`` skew and PE-to-PE hops for the far corner,
    + 1 accumulate, + 1 dequantize of the last group = ``k + rows + cols``.
    """
    if rows < 1 or cols < 1 or k < 1:
        raise ValueError(f"tile needs rows, cols, k ≥ 1; got {rows}, {cols}, {k}")
    return k + (rows - 1) + (cols - 1) + ACCUMULATE + DEQUANTIZE
