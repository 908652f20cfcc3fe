"""Floating-point reference formats: ``fp32``, ``fp16``, ``bf16``.

As fake-quant schemes they round every linear layer's weight and input to the format
(round-to-nearest-even) and compute in float32; the LM head is included.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sim.formats.base import Role, TensorStorage


@dataclass(frozen=True)
class _RoundTo:
    dtype: torch.dtype

    def quantize_weight(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.to(self.dtype).to(weight.dtype)

    def observe(self, x: torch.Tensor) -> None:
        pass

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype).to(x.dtype)


@dataclass(frozen=True)
class FloatFormat:
    """A float format; ``bits`` per element for weights and activations."""

    name: str
    dtype: torch.dtype
    description: str

    @property
    def bits(self) -> int:
        return torch.finfo(self.dtype).bits

    def storage(self, role: Role, name: str) -> TensorStorage:
        """Every element stored as one ``bits``-wide float, dense."""
        return TensorStorage(self.bits, float(self.bits))

    def for_linear(self, name: str, out_features: int, in_features: int) -> _RoundTo | None:
        return None if self.dtype == torch.float32 else _RoundTo(self.dtype)


FP32 = FloatFormat("fp32", torch.float32, "IEEE float32 (no quantization)")
FP16 = FloatFormat("fp16", torch.float16, "IEEE float16 weights and activations")
BF16 = FloatFormat("bf16", torch.bfloat16, "bfloat16 weights and activations")
