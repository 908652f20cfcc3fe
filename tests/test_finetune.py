"""Sparse-aware fine-tuning: masks are the format's own and stay fixed, the 'before' perplexity
is exactly `tapeout accuracy`'s, training never sees an evaluated token, results are cached by
every setting, and bad settings exit 2."""

from __future__ import annotations

import pytest

from core.errors import UserError
from tapeout import finetune as ft

pytestmark = pytest.mark.slow

TINY = ft.FinetuneSetting(steps=3, seq=32, batch=1, tokens=64, lr=1e-4)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAPEOUT_CACHE", str(tmp_path))
    from models import smollm2  # converted weights live in the real cache: point at them
    real = smollm2.converted_dir()
    monkeypatch.setattr(smollm2, "converted_dir", lambda: real)
    return tmp_path


def test_masks_are_the_formats_n_of_16_selection():
    import torch

    from models import smollm2
    from sim.formats import get_format
    from sim.formats.flightllm import FLIGHTLLM_W4S, encode_weight, keep_mask

    model = smollm2.load_model(torch.float32)
    masks = ft._masks(model, get_format("flightllm-w4s"))
    assert len(masks) == 2 * 30 and all(n.endswith(("q_proj", "k_proj")) for n in masks)
    name = "model.layers.3.self_attn.k_proj"
    w = dict(model.named_modules())[name].weight.detach().numpy()
    enc = encode_weight(w, FLIGHTLLM_W4S.layer_rule(name), name=name)
    assert (masks[name].numpy() == keep_mask(enc)[:, : w.shape[1]]).all()
    assert masks[name].reshape(-1, 16).sum(1).eq(4).all()


def test_a_short_fine_tune_holds_its_masks_and_is_cached(cache, monkeypatch):
    from tapeout.accuracy import evaluate

    result = ft.finetune(TINY)
    assert result["masks_held"] and result["sparse_layers"] == 60
    assert result["perplexity_before"] == evaluate("smollm2-135m", "flightllm-w4s", tokens=64)["perplexity"]
    from models import smollm2
    from models.text import read_text

    total = smollm2.load_tokenizer()(read_text(None), return_tensors="pt").input_ids.shape[1]
    assert result["train_tokens_available"] == total - 64 - 1 > 100_000   # after the scored tokens only
    assert result["perplexity_after"] > 0
    assert ft.cached_result(TINY) == result
    monkeypatch.setattr(ft, "_train", lambda *a: pytest.fail("a cached result was recomputed"))
    assert ft.finetune(TINY) == result
    assert ft.cached_result(ft.FinetuneSetting(steps=4, seq=32, batch=1, tokens=64, lr=1e-4)) is None


@pytest.mark.parametrize("setting, message", [
    (ft.FinetuneSetting(steps=0), "--steps"), (ft.FinetuneSetting(lr=0.0), "--lr"),
    (ft.FinetuneSetting(format="int4"), "no N:M weight sparsity"),
    (ft.FinetuneSetting(model="llama2-7b"), "no trained weights"),
])
def test_bad_settings_are_refused(setting, message):
    with pytest.raises(UserError, match=message):
        ft.finetune(setting)
