"""Sparse-aware fine-tuning (``tapeout finetune``): how much of the perplexity that N:M pruning
costs a short fine-tune on this machine recovers, with the masks fixed.

FlightLLM fine-tunes after sparsification and quantization (papers/flightllm.md); we measure
what a few hundred steps recover. The masks are the format's own (:func:`sim.formats.flightllm.nm_prune`:
the N largest |w| of every block of 16): pruned weights are set to zero and their gradients
masked, so they stay zero and the format keeps exactly the trained positions when it encodes
the fine-tuned weights. Every decoder-layer linear weight trains (AdamW, FP32, no quantizer in
the loop); embeddings and norms stay frozen. Training windows are drawn at random (seeded) from
the text after the evaluated tokens, so no evaluated token is trained on. Perplexity is measured
before and after under the format, exactly as ``tapeout accuracy`` measures it.

The result (not the weights) is cached under ``$TAPEOUT_CACHE`` by every setting; reports read
it when it exists and never start a fine-tune themselves.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import UserError

CACHE_VERSION = 1


@dataclass(frozen=True)
class FinetuneSetting:
    """One fine-tune: model, format, optimiser steps, windows of ``seq`` tokens × ``batch``,
    learning rate, evaluated tokens, seed."""

    model: str = "smollm2-135m"
    format: str = "flightllm-w4s"
    steps: int = 200
    seq: int = 256
    batch: int = 2
    lr: float = 5e-5
    tokens: int = 4096
    seed: int = 0

    def check(self) -> None:
        for name, low, high in (("steps", 1, 100_000), ("seq", 16, 2048), ("batch", 1, 64), ("tokens", 16, 1 << 20)):
            value = getattr(self, name)
            if isinstance(value, bool) or not low <= value <= high:
                raise UserError(f"--{name} must be from {low} to {high}, got {value}")
        if not 0 < self.lr <= 1:
            raise UserError(f"--lr must be in (0, 1], got {self.lr}")

    def key(self) -> dict[str, Any]:
        return {"version": CACHE_VERSION, **asdict(self)}

    @property
    def cache_name(self) -> str:
        digest = hashlib.sha256(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()[:16]
        return f"finetune-{digest}"


def cached_result(setting: FinetuneSetting = FinetuneSetting()) -> dict[str, Any] | None:
    """The cached result of ``setting``, or ``None`` when it has not been run."""
    from models.cache import cached_if_present

    directory = cached_if_present(setting.cache_name, setting.key())
    return None if directory is None else json.loads((directory / "result.json").read_text())


def _masks(model, fmt) -> dict[str, Any]:
    """Keep-masks of every sparse linear layer under ``fmt`` (its own N:16 selection)."""
    import numpy as np
    import torch

    from sim.formats.flightllm import BLOCK, nm_prune

    masks = {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.endswith("lm_head"):
            continue
        keep = fmt.layer_rule(name).keep
        if keep >= BLOCK or module.in_features % BLOCK:
            continue
        w = module.weight.detach().numpy()
        _, index = nm_prune(w, keep)
        mask = np.zeros((w.shape[0], w.shape[1] // BLOCK, BLOCK), bool)
        np.put_along_axis(mask, index.astype(np.intp), True, axis=2)
        masks[name] = torch.from_numpy(mask.reshape(w.shape))
    return masks


def finetune(setting: FinetuneSetting, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or read from the cache) the fine-tune of ``setting``: perplexity before and after."""
    from models.cache import cached_dir

    setting.check()
    from sim.formats import get_format
    from sim.formats.flightllm import LayerRule

    fmt = get_format(setting.format)
    if not isinstance(fmt.layer_rule("model.layers.0.self_attn.q_proj"), LayerRule):
        raise UserError(f"{setting.format} has no N:M weight sparsity to fine-tune around; use a "
                        f"FlightLLM format such as flightllm-w4s")
    from tapeout.accuracy import trained_spec

    trained_spec(setting.model)

    def build(directory) -> None:
        (directory / "result.json").write_text(json.dumps(_train(setting, fmt, progress), indent=2))

    directory = cached_dir(setting.cache_name, setting.key(), build)
    return json.loads((directory / "result.json").read_text())


def _train(setting: FinetuneSetting, fmt, progress) -> dict[str, Any]:
    import torch

    from models import smollm2
    from models.text import read_text
    from tapeout.accuracy import perplexity_under

    ids = smollm2.load_tokenizer()(read_text(None), return_tensors="pt").input_ids[0]
    train = ids[setting.tokens + 1:]
    if train.numel() < setting.seq + 2:
        raise UserError(f"the text holds {ids.numel():,} tokens: too few to train on after the "
                        f"{setting.tokens:,} evaluated ones")
    model = smollm2.load_model(torch.float32)
    masks = _masks(model, fmt)
    start = time.perf_counter()
    before = perplexity_under(model, fmt, ids, setting.tokens).perplexity
    modules = dict(model.named_modules())
    params = []
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in modules.items():
        if isinstance(module, torch.nn.Linear) and ".layers." in name:
            module.weight.requires_grad_(True)
            params.append(module.weight)
    with torch.no_grad():
        for name, mask in masks.items():
            modules[name].weight.mul_(mask)
    optimiser = torch.optim.AdamW(params, lr=setting.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(setting.seed)
    model.train()
    losses = []
    for step in range(setting.steps):
        starts = torch.randint(0, train.numel() - setting.seq - 1, (setting.batch,), generator=generator)
        batch = torch.stack([train[s:s + setting.seq] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        for name, mask in masks.items():
            modules[name].weight.grad.mul_(mask)
        optimiser.step()
        with torch.no_grad():
            for name, mask in masks.items():
                modules[name].weight.mul_(mask)
        losses.append(loss.item())
        if progress and (step + 1) % 10 == 0:
            progress(f"fine-tune step {step + 1}/{setting.steps}: loss {sum(losses[-10:]) / 10:.3f}")
    model.eval()
    kept = all(bool((modules[n].weight[~m] == 0).all()) for n, m in masks.items())
    after = perplexity_under(model, fmt, ids, setting.tokens).perplexity
    return {**asdict(setting), "perplexity_before": before, "perplexity_after": after,
            "sparse_layers": len(masks), "masks_held": kept, "train_tokens_available": int(train.numel()),
            "loss_first_10": sum(losses[:10]) / min(10, len(losses)),
            "loss_last_10": sum(losses[-10:]) / min(10, len(losses)),
            "seconds": round(time.perf_counter() - start, 1)}
