"""Cycles of one tile on the OliVe systolic array — the one formula the RTL bench measures
against and the cycle model uses.

A tile is ``rows × cols`` outputs over a reduction of ``k`` elements on an ``rows × cols``
output-stationary array (:class:`hw.olive.array.OvpSystolicArray`) that takes one OVP pair
(two elements along K) per row and per column each cycle, in OVP-4 and OVP-8 alike.
"""

from __future__ import annotations

from math import ceil

ACCUMULATE = 1
"""A PE adds its last pair at the end of the cycle it receives it (cycles)."""
RESULT_REGISTER = 1
"""Each finished sum is copied into the result bank one cycle later (cycles)."""


def ovp_array_tile_cycles(rows: int, cols: int, k: int) -> int:
    """Cycles from presenting a tile's first pair to its results being complete (that cycle
    counted), for one tile on an idle array:

    ``ceil(k / 2)`` pairs streamed (the edge that samples a pair also loads it, decoded, into
    the register behind the edge decoders), + ``(rows − 1) + (cols − 1)`` skew and PE-to-PE
    hops for the far corner, + 1 accumulate, + 1 result copy = ``ceil(k / 2) + rows + cols``.
    """
    if rows < 1 or cols < 1 or k < 1:
        raise ValueError(f"tile needs rows, cols, k ≥ 1; got {rows}, {cols}, {k}")
    pairs = ceil(k / 2)
    return pairs + (rows - 1) + (cols - 1) + ACCUMULATE + RESULT_REGISTER
