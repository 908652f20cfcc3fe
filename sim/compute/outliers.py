"""Outlier side paths of the baselines that keep a few values apart from a dense low-precision
array (OLAccel, GOBO): how many values take the side path, and what the side path costs.

The fraction comes from the number format itself — the share of a tensor its encoder puts on the
sparse outlier list (:attr:`sim.formats.base.TensorStorage.outliers`, measured on the format's
seeded Gaussian sample) — so the golden model, the accuracy run and the cycle model agree on it.
"""

from __future__ import annotations

import math
from functools import cache

from core.errors import UserError
from sim.formats.base import Role

SAMPLE_LAYER = "model.layers.0.mlp.up_proj"
"""The module name an outlier fraction is measured under (formats without per-layer rules
answer the same for every layer)."""


@cache
def outlier_fraction(format_name: str, role: str) -> float:
    """Fraction of a ``role`` tensor's elements that ``format_name`` keeps on its outlier list."""
    from sim.formats.registry import get_format  # here: the formats load numba kernels

    try:
        fmt = get_format(format_name)
    except UserError as exc:
        raise UserError(f"design.outlier_format: {exc}") from None
    return fmt.storage(Role(role), SAMPLE_LAYER).outliers


def index_bits(k: int) -> int:
    """Bits of a column index within a row segment of ``k`` elements (at least 1)."""
    return max(1, math.ceil(math.log2(max(2, k))))


def extra_steps_per_step(group: int, p: float) -> float:
    """Expected extra cycles per streaming step of a lane group of ``group`` lanes that owns one
    extra MAC for outliers, when each lane's operand is an outlier independently with
    probability ``p``: the extra MAC absorbs one outlier, each further one costs a cycle, so
    ``E[max(0, X − 1)]`` for ``X ~ Binomial(group, p)`` = ``group·p − (1 − (1 − p)^group)``."""
    if not 0 <= p <= 1:
        raise ValueError(f"outlier probability must be in [0, 1], got {p}")
    return group * p - (1 - (1 - p) ** group)
