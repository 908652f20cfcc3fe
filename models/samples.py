"""Real tensors for the golden-model tests and the RTL benches: the inputs and weights of one
layer's linear modules, recorded while a model with trained weights runs a short prefill."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class LinearSample:
    """One linear module's real operands: ``input`` float32 ``[tokens, K]`` and ``weight``
    float32 ``[N, K]`` (out × in)."""

    name: str
    input: np.ndarray
    weight: np.ndarray


@cache
def linear_samples(model: str = "smollm2-135m", layer: int = 0, tokens: int = 8
                   ) -> tuple[LinearSample, ...]:
    """Every linear module of ``layer`` in trace order, from a ``tokens``-token prefill of
    ``model`` (deterministic; the model must have trained weights)."""
    from models.trace.tracer import trace_model

    trace, tensors = trace_model(model, tokens, 1, tensors=f"model.layers.{layer}.*")
    found: dict[str, LinearSample] = {}
    for index, op in enumerate(trace.ops):
        weight, x = tensors.get(f"weight.{op.name}"), tensors.get(f"op{index}.input")
        if weight is None or x is None or op.name in found:
            continue
        found[op.name] = LinearSample(op.name, x.reshape(-1, x.shape[-1]).float().numpy(),
                                      weight.float().numpy())
    return tuple(found.values())
