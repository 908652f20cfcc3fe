"""Tiling and loop order of a matrix product C[M×N] += A[M×K] · B[K×N] on a buffered target.

Search (small and exhaustive, documented in the README):

1. Candidate tile sizes per dimension: the whole dimension, and the array-aligned sizes
   ``base · 2^i`` below it (``base`` = array rows for M, array columns for N, array rows for K).
2. A tile fits when A (``tm·tk`` at the activation bits) fits the inputs buffer, B (``tk·tn``
   at the weight bits) the weights buffer and the accumulators (``tm·tn`` at the accumulator
   bits) the outputs buffer — each the *tile* capacity, half the buffer when double buffered.
3. For every fitting tile and each of the 6 loop orders, off-chip traffic is counted exactly:
   an operand is re-fetched whenever a loop it does not depend on sits outside the innermost
   loop it does depend on; when K is not the innermost of C's loops, partial sums are spilled
   (written and read back at accumulator width) on every revisit.
4. With a :class:`TileTimer` (the target's compute model, as ``tapeout simulate`` passes), every
   candidate is timed: compute = Σ over its tiles of the model's cycles per tile (exact: each
   distinct edge-tile shape is timed once and counted), memory = traffic / achieved bytes per
   cycle, estimate = max of the two (loads overlap compute when double buffered). The least
   estimate wins, then least traffic — so for a given tile the loop order is always the one of
   least traffic. Without a timer the estimate is 0 and traffic decides. Remaining ties go to
   fewer K tiles (an output-stationary array repeats its fill/drain for every K tile of an
   output fold), then to fewer tiles (less per-tile overhead), then to the first loop order in
   ``ORDERS``.

   Why time first: a decode matrix-vector product (M = 1) on llama2-7b's 4096 × 4096 weights
   moves 3 % less by cutting K into 32-element tiles, but an output-stationary 32 × 32 array
   then pays its fill/drain on each of them: 2.9× the cycles (``tests/mapping/test_tiling.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations, product
from typing import Protocol

from core.errors import UserError

ORDERS: tuple[tuple[str, str, str], ...] = tuple(permutations("mnk"))
_DEPENDS = {"a": frozenset("mk"), "w": frozenset("kn"), "c": frozenset("mn")}


@dataclass(frozen=True, slots=True)
class GemmShape:
    """One matrix product; bits are storage bits per element (may be fractional: scales and
    metadata of a number format included)."""

    m: int
    k: int
    n: int
    a_bits: float
    w_bits: float
    o_bits: float
    acc_bits: int


@dataclass(frozen=True, slots=True)
class Tiling:
    """Tile sizes (elements), loop order (outermost first) and the off-chip bytes it moves."""

    tm: int
    tk: int
    tn: int
    order: tuple[str, str, str]
    traffic: int

    def trips(self, shape: GemmShape) -> dict[str, int]:
        return {"m": math.ceil(shape.m / self.tm), "k": math.ceil(shape.k / self.tk),
                "n": math.ceil(shape.n / self.tn)}


class TileTimer(Protocol):
    """Cycles of one ``(m, k, n)`` tile on the matrix unit (the target's compute model)."""

    def __call__(self, tile: tuple[int, int, int]) -> int: ...


def _pieces(dim: int, size: int) -> tuple[tuple[int, int], ...]:
    """(tile extent, how many) of ``dim`` cut into ``size`` tiles: the full ones and the edge."""
    full, rest = divmod(dim, size)
    return ((size, full),) * bool(full) + ((rest, 1),) * bool(rest)


def compute_cycles(shape: GemmShape, tm: int, tk: int, tn: int, timer: TileTimer) -> int:
    """Matrix-unit cycles of all tiles of ``shape`` (full tiles and edge remainders)."""
    return _compute(_pieces(shape.m, tm), _pieces(shape.k, tk), _pieces(shape.n, tn), timer)


def _compute(m_pieces, k_pieces, n_pieces, timer: TileTimer) -> int:
    return sum(timer((m, k, n)) * cm * ck * cn
               for (m, cm), (k, ck), (n, cn) in product(m_pieces, k_pieces, n_pieces))


def _candidates(dim: int, base: int) -> list[int]:
    sizes = {dim}
    size = base
    while size < dim:
        sizes.add(size)
        size *= 2
    return sorted(sizes)


def _outer_loop(order: tuple[str, str, str], operand: str) -> int | None:
    """The loop of ``order`` (0 m, 1 k, 2 n) that re-fetches ``operand``: the one it does not
    depend on, when that sits outside the innermost loop it does depend on (else ``None``)."""
    deps = _DEPENDS[operand]
    innermost = max(i for i, loop in enumerate(order) if loop in deps)
    outer = [loop for loop in order[:innermost] if loop not in deps]
    return "mkn".index(outer[0]) if outer else None


_REFETCH = {order: tuple(_outer_loop(order, operand) for operand in "awc") for order in ORDERS}
_DISTINCT_REFETCH = tuple({_REFETCH[order]: rank for rank, order in reversed(list(enumerate(ORDERS)))}.items())
"""Each distinct re-fetch pattern (three: the six orders pair up) with the first order having it."""


def _traffic(shape: GemmShape, trips: tuple[int, int, int], refetch: tuple) -> int:
    """Off-chip bytes with ``trips`` (m, k, n) tiles under the loop order whose re-fetching
    loops are ``refetch`` (:data:`_REFETCH`)."""
    la, lw, lc = refetch
    ra = 1 if la is None else trips[la]
    rw = 1 if lw is None else trips[lw]
    rc = 1 if lc is None else trips[lc]
    a = shape.m * shape.k * shape.a_bits * ra
    w = shape.k * shape.n * shape.w_bits * rw
    c = shape.m * shape.n * (shape.o_bits + (rc - 1) * 2 * shape.acc_bits)
    return math.ceil((a + w + c) / 8)


def traffic_bytes(shape: GemmShape, tm: int, tk: int, tn: int, order: tuple[str, str, str]) -> int:
    """Off-chip bytes of the loop nest (see the module docstring, step 3)."""
    return _traffic(shape, (-(-shape.m // tm), -(-shape.k // tk), -(-shape.n // tn)), _REFETCH[order])


def choose_tiling(shape: GemmShape, rows: int, cols: int, inputs_bytes: int, weights_bytes: int,
                  outputs_bytes: int, timer: TileTimer | None = None,
                  bytes_per_cycle: float = 1.0) -> Tiling:
    """The best tiling of ``shape`` that fits the tile capacities (bytes): least estimated cycles
    with ``timer``, then least traffic (module docstring, step 4).

    Untimed searches are cached process-wide; timed ones are not (a timer belongs to one
    simulation's engine, and the simulator already maps each distinct op shape once)."""
    if timer is None:
        return _least_traffic(shape, rows, cols, inputs_bytes, weights_bytes, outputs_bytes)
    return _search(shape, rows, cols, inputs_bytes, weights_bytes, outputs_bytes, timer,
                   bytes_per_cycle)


@lru_cache(maxsize=65536)
def _least_traffic(shape: GemmShape, rows: int, cols: int, inputs_bytes: int, weights_bytes: int,
                   outputs_bytes: int) -> Tiling:
    return _search(shape, rows, cols, inputs_bytes, weights_bytes, outputs_bytes, None, 1.0)


def _search(shape: GemmShape, rows: int, cols: int, inputs_bytes: int, weights_bytes: int,
            outputs_bytes: int, timer: TileTimer | None, bytes_per_cycle: float) -> Tiling:
    """The exhaustive search. Traffic, tile count and per-tile overheads never grow when a tile
    dimension grows, so for each (tm, tk) only the largest fitting tn is a candidate (the search
    is exhaustive over that frontier)."""
    best: tuple | None = None
    n_sizes = _candidates(shape.n, cols)
    k_sizes = _candidates(shape.k, rows)
    in_bits, w_bits, out_bits = inputs_bytes * 8, weights_bytes * 8, outputs_bytes * 8
    n_pieces = {tn: _pieces(shape.n, tn) for tn in n_sizes} if timer is not None else {}
    k_pieces = {tk: _pieces(shape.k, tk) for tk in k_sizes} if timer is not None else {}
    for tm in _candidates(shape.m, rows):
        m_pieces = _pieces(shape.m, tm) if timer is not None else ()
        for tk in k_sizes:
            if tm * tk * shape.a_bits > in_bits:
                continue
            fitting = [tn for tn in n_sizes if tk * tn * shape.w_bits <= w_bits
                       and tm * tn * shape.acc_bits <= out_bits]
            if not fitting:
                continue
            tn = fitting[-1]
            trips = (-(-shape.m // tm), -(-shape.k // tk), -(-shape.n // tn))
            # for one tile the estimate only grows with traffic: the order of least traffic
            # (first in ORDERS among equals) is the only one that can win
            traffic, rank = min([(_traffic(shape, trips, refetch), rank)
                                 for refetch, rank in _DISTINCT_REFETCH])
            if timer is None:
                estimate = 0
            else:
                compute = _compute(m_pieces, k_pieces[tk], n_pieces[tn], timer)
                estimate = max(compute, math.ceil(traffic / bytes_per_cycle))
            cost = (estimate, traffic, trips[1], trips[0] * trips[1] * trips[2], rank)
            if best is None or cost < best[0]:
                best = (cost, (tm, tk, tn, ORDERS[rank], traffic))
    if best is None:
        raise UserError(f"no tile of {shape} fits the target's buffers (per tile: buffers.inputs "
                        f"{inputs_bytes} B, buffers.weights {weights_bytes} B, buffers.outputs "
                        f"{outputs_bytes} B); give the target larger buffers")
    return Tiling(*best[1])
