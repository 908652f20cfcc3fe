"""Accuracy pipeline: a trained model, a number format wrapping its linear layers, perplexity.

Schemes with ``calibration_tokens > 0`` first observe that many tokens taken from the *end* of
the text (disjoint from the evaluated tokens at its start), in windows of the same size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from core.errors import UserError
from models import fakequant
from models.perplexity import check_arguments, perplexity, windows
from models.text import read_text
from models.zoo import ZOO, ModelSpec, get_spec
from sim.formats import get_format


def trained_spec(name: str) -> ModelSpec:
    """The zoo entry of ``name``; UserError unless it has trained weights."""
    spec = get_spec(name)
    if not spec.trained:
        with_weights = ", ".join(n for n, s in ZOO.items() if s.trained)
        raise UserError(f"{name} has no trained weights, so its accuracy cannot be measured; "
                        f"models with weights: {with_weights}")
    return spec


def _calibration_tail(ids: torch.Tensor, tokens: int, scheme) -> torch.Tensor:
    """The last ``calibration_tokens`` of ``ids`` after the evaluated ones (empty: none needed)."""
    calib = getattr(scheme, "calibration_tokens", 0)
    if not calib:
        return ids[:0]
    tail = ids[max(tokens + 1, ids.numel() - calib):]
    if tail.numel() < 2:
        raise UserError("the text is too short to hold calibration tokens after the "
                        f"{tokens} evaluated ones; use fewer --tokens or a longer --text")
    return tail


def evaluate(model_name: str, format_name: str = "fp32", *, tokens: int = 4096,
             text: str | None = None, window: int = 512, stride: int = 256,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Perplexity of ``model_name`` under ``format_name``; returns the JSON-ready result.

    Every argument and the text's length are checked (tokenizer only) before the model loads."""
    scheme = get_format(format_name)
    spec = trained_spec(model_name)
    from models import smollm2

    ids = smollm2.load_tokenizer()(read_text(text), return_tensors="pt").input_ids[0]
    check_arguments(ids.numel(), tokens, window, stride, spec.shape.max_positions,
                    f"text file {text}" if text else "the default text")
    model = smollm2.load_model(torch.float32)
    result = perplexity_under(model, scheme, ids, tokens, window=window, stride=stride, progress=progress)
    return {"model": model_name, "format": format_name, "perplexity": result.perplexity,
            "tokens": result.tokens, "seconds": round(result.seconds, 3), "window": result.window,
            "stride": result.stride, "nll": result.nll}


def perplexity_under(model: torch.nn.Module, scheme, ids: torch.Tensor, tokens: int, *, window: int = 512,
                     stride: int = 256, progress: Callable[[int, int], None] | None = None):
    """Perplexity of a loaded ``model`` with its linear layers in ``scheme``, over the first
    ``tokens`` predictions of ``ids`` (calibrating first on the text's tail when the scheme
    needs it); the model is left as it was."""
    tail = _calibration_tail(ids, tokens, scheme)
    torch.manual_seed(0)
    with fakequant.quantized(model, scheme) as wrappers:
        if tail.numel() and wrappers:
            with fakequant.calibrating(wrappers), torch.no_grad():
                for begin, end, _ in windows(tail.numel(), window, window):
                    model(tail[begin:end][None], logits_to_keep=1)
        return perplexity(model, ids, tokens, window=window, stride=stride, progress=progress)
