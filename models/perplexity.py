"""Sliding-window perplexity of a causal LM.

The token sequence is ``ids[: tokens + 1]`` so exactly ``tokens`` tokens are predicted. Windows
of ``window`` tokens start every ``stride`` tokens; each window scores only the tokens no
earlier window scored, so every scored token after the first window sees at least
``max(1, window − stride)`` tokens of context. Perplexity = exp(mean negative log-likelihood).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.errors import UserError


@dataclass(frozen=True)
class PerplexityResult:
    perplexity: float
    tokens: int
    seconds: float
    window: int
    stride: int
    nll: float  # mean negative log-likelihood, nats per token


def windows(n: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first_scored)`` for each window over a sequence of ``n`` tokens.

    Needs ``window ≥ 2`` and ``stride ≥ 1``: then every window ends past the previous one (it
    starts at most one token before that end), so there are at most ``n − 1`` windows."""
    if window < 2 or stride < 1:
        raise ValueError(f"windows need window ≥ 2 and stride ≥ 1, got window {window}, stride {stride}")
    out, scored, begin = [], 1, 0
    while scored < n:
        end = min(begin + window, n)
        out.append((begin, end, scored))
        scored = end
        begin = min(begin + stride, end - 1)  # a window's first scored token needs one of context
    return out


def check_arguments(available: int, tokens: int, window: int, stride: int, max_positions: int,
                    source: str = "the text") -> None:
    """UserError unless ``tokens`` ≥ 1 predictions fit the ``available`` tokens of ``source``
    (``tokens + 1`` needed) with 2 ≤ ``window`` ≤ ``max_positions`` and 1 ≤ ``stride`` ≤ ``window``."""
    if tokens < 1:
        raise UserError(f"--tokens must be at least 1, got {tokens}")
    if window < 2:
        raise UserError(f"--window must be at least 2, got {window}: a window scores each token "
                        "from the ones before it, so it needs one of context and one to predict")
    if not 1 <= stride <= window:
        raise UserError(f"need 1 ≤ stride ≤ window; got stride {stride}, window {window}")
    if window > max_positions:
        raise UserError(f"--window {window} exceeds the model's {max_positions} positions")
    if available < tokens + 1:
        raise UserError(f"{source} has only {available} tokens; --tokens {tokens} needs {tokens + 1}")


def perplexity(model: torch.nn.Module, ids: torch.Tensor, tokens: int, *, window: int = 512,
               stride: int = 256, progress: Callable[[int, int], None] | None = None) -> PerplexityResult:
    """Perplexity over the first ``tokens`` predictions of the 1-D token tensor ``ids``."""
    check_arguments(ids.numel(), tokens, window, stride,
                    getattr(model.config, "max_position_embeddings", window))
    seq = ids[: tokens + 1]
    spans = windows(seq.numel(), window, stride)
    start = time.perf_counter()
    total = 0.0
    with torch.no_grad():
        for i, (begin, end, first) in enumerate(spans):
            keep = end - first + 1  # logits at positions first-1 … end-1; the last one is unused
            logits = model(seq[begin:end][None], logits_to_keep=keep).logits[0, :-1]
            total += F.cross_entropy(logits.float(), seq[first:end], reduction="sum").item()
            if progress:
                progress(i + 1, len(spans))
    nll = total / tokens
    ppl = math.exp(nll) if nll < 700 else math.inf
    return PerplexityResult(perplexity=ppl, tokens=tokens, seconds=time.perf_counter() - start,
                            window=window, stride=stride, nll=nll)
