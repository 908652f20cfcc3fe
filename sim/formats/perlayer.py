"""A format that applies one of two formats per transformer block: mixed-precision baselines.

``PerLayerFormat(name, low, high, every)`` runs ``high`` on every ``every``-th transformer
block (block index i with ``i % every == every − 1``) and on modules outside the blocks (no
block index in their name: embeddings, the ViT patch projection, a pooler), and ``low``
everywhere else — e.g. ANT's 4-bit mode on 80 % of the blocks and its 8-bit mode on the rest
(every = 5). A module's block index is the first ``.<integer>.`` of its name
(``model.layers.12.mlp.up_proj`` → 12). Every operation is the chosen format's own: encode,
decode, GEMM, calibration, storage; so simulation and accuracy see exactly that format per
layer.
"""

from __future__ import annotations

import re

import numpy as np

from sim.formats.base import Encoded, NumberFormat, Role, TensorStorage

_BLOCK = re.compile(r"\.(\d+)\.")


class PerLayerFormat(NumberFormat):
    """``low`` on most blocks, ``high`` on every ``every``-th and outside the blocks."""

    def __init__(self, name: str, low: NumberFormat, high: NumberFormat, every: int,
                 description: str):
        if every < 1:
            raise ValueError(f"every must be ≥ 1, got {every}")
        self.name, self.low, self.high, self.every = name, low, high, every
        self.description = description
        self.calibration_tokens = max(low.calibration_tokens, high.calibration_tokens)
        self._parts = {low.name: low, high.name: high}

    def part(self, name: str) -> NumberFormat:
        """The format module (or tensor) ``name`` runs in."""
        found = _BLOCK.search(f".{name}.")
        if found is None or int(found.group(1)) % self.every == self.every - 1:
            return self.high
        return self.low

    def layer_rule(self, name: str):
        part = self.part(name)
        return part.name, part.layer_rule(name)

    def code_bits(self, role: Role, name: str) -> int:
        return self.part(name).code_bits(role, name)

    def storage(self, role: Role, name: str) -> TensorStorage:
        return self.part(name).storage(role, name)

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, **static) -> Encoded:
        return self.part(name).encode(x, role, name=name, scale=scale, **static)

    def decode(self, enc: Encoded) -> np.ndarray:
        return self._parts[enc.format].decode(enc)

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        return self._parts[w.format].gemm(x, w)

    def calibrate(self, sample, *, name: str) -> dict:
        """The static activation parameters of ``name``'s part; none for a part that quantizes
        its activations dynamically (the mix calibrates because another part does)."""
        part = self.part(name)
        return part.calibrate(sample, name=name) if part.calibration_tokens else {}

    def for_linear(self, name: str, out_features: int, in_features: int):
        return self.part(name).for_linear(name, out_features, in_features)
