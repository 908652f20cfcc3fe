"""Fixtures shared by the number-format tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def real_linears():
    """``[(name, x [tokens, K], w [N, K])]`` of layer 0 of smollm2-135m (8-token prefill):
    real inputs and weights for the golden-model checks (:func:`models.samples.linear_samples`)."""
    from models.samples import linear_samples

    out = [(s.name, s.input, s.weight) for s in linear_samples()]
    assert len(out) == 7, [name for name, _, _ in out]
    return out
