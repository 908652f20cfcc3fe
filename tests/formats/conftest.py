"""Fixtures shared by the number-format tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def real_linears():
    """``[(name, x [tokens, K], w [N, K])]`` of layer 0 of smollm2-135m (8-token prefill):
    real inputs and weights for the golden-model checks. Each weight is paired with the next
    recorded op input, which is that linear layer's input."""
    from models.trace.tracer import trace_model

    _, tensors = trace_model("smollm2-135m", 8, 1, tensors="model.layers.0.*")
    out, pending = [], None
    for key, value in tensors.items():
        if key.startswith("weight."):
            pending = (key.removeprefix("weight."), value.float().numpy())
        elif pending and key.endswith(".input"):
            x = value.float().numpy().reshape(-1, value.shape[-1])
            if x.shape[1] == pending[1].shape[1]:
                out.append((pending[0], x, pending[1]))
            pending = None
    assert len(out) == 7, [name for name, _, _ in out]
    return out
