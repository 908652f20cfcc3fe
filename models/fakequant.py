"""The seam through which a number format wraps every linear layer of a PyTorch model.

A *scheme* decides, per linear layer, whether and how it is quantized: it returns a
:class:`LinearQuantizer` (or ``None`` to leave the layer in floating point, e.g. the LM head).
The quantizer turns the weight into its fake-quantized float tensor once, may observe inputs
during calibration (static activation scales), and fake-quantizes every input at run time.
Model code is never touched: :func:`quantized` swaps ``nn.Linear``/``Conv1D`` modules for
:class:`QuantLinear` wrappers and restores them on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn


class LinearQuantizer(Protocol):
    def quantize_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """``[N, K]`` float weight → fake-quantized float weight of the same shape."""

    def observe(self, x: torch.Tensor) -> None:
        """Calibration: see one input batch ``[..., K]`` (static activation scales)."""

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., K]`` float input → fake-quantized float input of the same shape."""


class QuantScheme(Protocol):
    name: str

    def for_linear(self, name: str, out_features: int, in_features: int) -> LinearQuantizer | None:
        """The quantizer of layer ``name`` or ``None`` to keep it in floating point."""


class QuantLinear(nn.Module):
    """``y = quantize_input(x) @ quantize_weight(W)ᵀ + b``; in calibration mode the input is only
    observed, not quantized."""

    def __init__(self, name: str, inner: nn.Module, quantizer: LinearQuantizer):
        super().__init__()
        from transformers.pytorch_utils import Conv1D

        self.name = name
        self.inner = inner
        self.quantizer = quantizer
        weight = inner.weight.detach()
        if isinstance(inner, Conv1D):  # GPT-2 stores [K, N]
            weight = weight.t()
        self.register_buffer("qweight", quantizer.quantize_weight(weight.float()).to(weight.dtype),
                             persistent=False)
        self.bias = inner.bias
        self.calibrating = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.calibrating:  # calibration sees (and passes on) the unquantized input
            self.quantizer.observe(x.detach().float())
            return F.linear(x, self.qweight, self.bias)
        xq = self.quantizer.quantize_input(x.float()).to(x.dtype)
        return F.linear(xq, self.qweight, self.bias)


def _linear_shape(module: nn.Module) -> tuple[int, int] | None:
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, nn.Linear):
        return module.out_features, module.in_features
    if isinstance(module, Conv1D):
        return module.nf, module.weight.shape[0]
    return None


@contextmanager
def quantized(model: nn.Module, scheme: QuantScheme) -> Iterator[list[QuantLinear]]:
    """Swap every linear layer the scheme quantizes; yields the wrappers; restores on exit."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    wrappers: list[QuantLinear] = []
    try:
        for name, module in list(model.named_modules()):
            shape = _linear_shape(module)
            if shape is None:
                continue
            quantizer = scheme.for_linear(name, *shape)
            if quantizer is None:
                continue
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            wrapper = QuantLinear(name, module, quantizer)
            setattr(parent, attr, wrapper)
            swapped.append((parent, attr, module))
            wrappers.append(wrapper)
        yield wrappers
    finally:
        for parent, attr, module in reversed(swapped):
            setattr(parent, attr, module)


@contextmanager
def calibrating(wrappers: list[QuantLinear]) -> Iterator[None]:
    """While active, every wrapper passes its inputs to ``observe``."""
    for w in wrappers:
        w.calibrating = True
    try:
        yield
    finally:
        for w in wrappers:
            w.calibrating = False
