"""Accuracy pipeline: a trained model, a number format wrapping its linear layers, perplexity.

Schemes with ``calibration_tokens > 0`` first observe that many tokens taken from the *end* of
the text (disjoint from the evaluated tokens at its start), in windows of the same size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from models import fakequant
from models.perplexity import perplexity, windows
from models.text import read_text
from models.zoo import ZOO, get_spec
from sim.formats import get_format
from tapeout.errors import UserError


def _load_trained(name: str):
    spec = get_spec(name)
    if not spec.trained:
        with_weights = ", ".join(n for n, s in ZOO.items() if s.trained)
        raise UserError(f"{name} has no trained weights, so its accuracy cannot be measured; "
                        f"models with weights: {with_weights}")
    from models import smollm2

    return smollm2.load_model(torch.float32), smollm2.load_tokenizer()


def evaluate(model_name: str, format_name: str = "fp32", *, tokens: int = 4096,
             text: str | None = None, window: int = 512, stride: int = 256,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Perplexity of ``model_name`` under ``format_name``; returns the JSON-ready result."""
    scheme = get_format(format_name)
    model, tokenizer = _load_trained(model_name)
    torch.manual_seed(0)
    ids = tokenizer(read_text(text), return_tensors="pt").input_ids[0]
    with fakequant.quantized(model, scheme) as wrappers:
        calib = getattr(scheme, "calibration_tokens", 0)
        if calib and wrappers:
            tail = ids[max(tokens + 1, ids.numel() - calib):]
            if tail.numel() < 2:
                raise UserError("the text is too short to hold calibration tokens after the "
                                f"{tokens} evaluated ones; use fewer --tokens or a longer --text")
            with fakequant.calibrating(wrappers), torch.no_grad():
                for begin, end, _ in windows(tail.numel(), window, window):
                    model(tail[begin:end][None], logits_to_keep=1)
        result = perplexity(model, ids, tokens, window=window, stride=stride, progress=progress)
    return {"model": model_name, "format": format_name, "perplexity": result.perplexity,
            "tokens": result.tokens, "seconds": round(result.seconds, 3), "window": result.window,
            "stride": result.stride, "nll": result.nll}
