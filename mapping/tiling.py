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


def compute_cycles(shape: GemmShape, tm: int, tk: int, tn: int, timer: TileTimer) -> int:
    """Matrix-unit cycles of all tiles of ``shape`` (full tiles and edge remainders)."""
    def pieces(dim: int, size: int) -> list[tuple[int, int]]:  # (tile extent, how many)
        full, rest = divmod(dim, size)
        return [(size, full)] * bool(full) + [(rest, 1)] * bool(rest)

    return sum(timer((m, k, n)) * cm * ck * cn
               for (m, cm), (k, ck), (n, cn) in product(pieces(shape.m, tm), pieces(shape.k, tk),
                                                        pieces(shape.n, tn)))


def _candidates(dim: int, base: int) -> list[int]:
    sizes = {dim}
    size = base
    while size < dim:
        sizes.add(size)
        size *= 2
    return sorted(sizes)


def _refetch(order: tuple[str, str, str], trips: dict[str, int], operand: str) -> int:
    """How many times each element of ``operand`` is brought on chip under ``order``."""
    deps = _DEPENDS[operand]
    innermost = max(i for i, loop in enumerate(order) if loop in deps)
    return math.prod(trips[loop] for loop in order[:innermost] if loop not in deps)


def traffic_bytes(shape: GemmShape, tm: int, tk: int, tn: int, order: tuple[str, str, str]) -> int:
    """Off-chip bytes of the loop nest (see the module docstring, step 3)."""
    trips = {"m": math.ceil(shape.m / tm), "k": math.ceil(shape.k / tk), "n": math.ceil(shape.n / tn)}
    a = shape.m * shape.k * shape.a_bits * _refetch(order, trips, "a")
    w = shape.k * shape.n * shape.w_bits * _refetch(order, trips, "w")
    visits = _refetch(order, trips, "c")
    c = shape.m * shape.n * (shape.o_bits + (visits - 1) * 2 * shape.acc_bits)
    return math.ceil((a + w + c) / 8)


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
    for tm in _candidates(shape.m, rows):
        for tk in _candidates(shape.k, rows):
            if tm * tk * shape.a_bits > inputs_bytes * 8:
                continue
            fitting = [tn for tn in n_sizes if tk * tn * shape.w_bits <= weights_bytes * 8
                       and tm * tn * shape.acc_bits <= outputs_bytes * 8]
            if not fitting:
                continue
            tn = fitting[-1]
            k_tiles = math.ceil(shape.k / tk)
            tiles = math.ceil(shape.m / tm) * k_tiles * math.ceil(shape.n / tn)
            compute = compute_cycles(shape, tm, tk, tn, timer) if timer is not None else 0
            for rank, order in enumerate(ORDERS):
                traffic = traffic_bytes(shape, tm, tk, tn, order)
                estimate = max(compute, math.ceil(traffic / bytes_per_cycle)) if timer is not None else 0
                cost = (estimate, traffic, k_tiles, tiles, rank)
                if best is None or cost < best[0]:
                    best = (cost, Tiling(tm, tk, tn, order, traffic))
    if best is None:
        raise UserError(f"no tile of {shape} fits the target's buffers (per tile: buffers.inputs "
                        f"{inputs_bytes} B, buffers.weights {weights_bytes} B, buffers.outputs "
                        f"{outputs_bytes} B); give the target larger buffers")
    return best[1]
