"""Per-group clipping search: the range of a group scale chosen by least squared error.

Range-based (min/max) scales waste levels on a group's largest weights. Like OliVe's α sweep by
MSE (papers/olive.md, "Scale selection"), every group tries the clipping ratios
:data:`RATIOS` (1.00, 0.95, …, 0.50 of its range) and keeps the one whose decoded values have the
least squared error (float32 sums, ties → the larger ratio, i.e. less clipping). Used for the
weight groups of MixPE and FlightLLM, whose papers leave the quantizer open
(papers/mixpe.md, papers/flightllm.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RATIOS = tuple(np.float32(1.0 - 0.05 * i) for i in range(11))


def clip_search(groups: np.ndarray,
                fit: Callable[[np.float32], tuple[tuple[np.ndarray, ...], np.ndarray]]
                ) -> tuple[np.ndarray, ...]:
    """``groups [..., g]``; ``fit(ratio)`` → (per-group parameter arrays ``[...]``, decoded
    ``[..., g]``). Returns the parameters of the least-error ratio, group by group."""
    best_err = None
    best: list[np.ndarray] = []
    for ratio in RATIOS:
        params, decoded = fit(ratio)
        err = np.square(decoded - groups).sum(axis=-1)
        if best_err is None:
            best_err, best = err, list(params)
            continue
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best = [np.where(better, p, b) for p, b in zip(params, best, strict=True)]
    return tuple(best)
