import pytest

from core.errors import UserError
from models.zoo import ZOO, get_spec, lengths, parameter_count


def test_published_shapes():
    s = get_spec("llama2-7b").shape
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.ffn, s.vocab, s.head_dim) == (32, 4096, 32, 32, 11008, 32000, 128)
    # meta-llama/Llama-2-13b-hf config: 40 layers, hidden 5120, 40 heads (no GQA), FFN 13824,
    # vocabulary 32000, 4096 positions.
    s = get_spec("llama2-13b").shape
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.ffn, s.vocab, s.max_positions) == (40, 5120, 40, 40, 13824, 32000, 4096)
    s = get_spec("smollm2-135m").shape
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.ffn, s.head_dim) == (30, 576, 9, 3, 1536, 64)


@pytest.mark.parametrize("name, shape, image, tokens", [
    # google/vit-base-patch16-224: 12 layers, hidden 768, 12 heads, MLP 3072, patch 16, 224² × 3
    ("vit-b16", (12, 768, 12, 12, 3072, 64), (3, 224, 16), 197),
    # google/vit-huge-patch14-224-in21k: 32 layers, hidden 1280, 16 heads, MLP 5120, patch 14
    ("vit-h14", (32, 1280, 16, 16, 5120, 80), (3, 224, 14), 257),
])
def test_vit_published_shapes(name, shape, image, tokens):
    spec = get_spec(name)
    s, i = spec.shape, spec.image
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.ffn, s.head_dim) == shape
    assert (i.channels, i.size, i.patch) == image
    assert i.tokens == i.patches + 1 == s.max_positions == tokens   # patches + CLS
    assert s.vocab == 0 and not spec.causal and not spec.trained
    config = spec.make_config()
    assert (config.hidden_act, config.layer_norm_eps, config.qkv_bias) == ("gelu", 1e-12, True)
    assert (config.image_size, config.patch_size, config.num_channels) == (224, i.patch, 3)


@pytest.mark.parametrize("name, millions", [("vit-b16", 86), ("vit-h14", 632)])
def test_vit_parameter_counts_match_published(name, millions):
    """Dosovitskiy et al. 2021, Table 1 gives whole millions: ViT-B/16 86 M (ours 86,389,248),
    ViT-H/14 632 M (ours 632,404,480 — 630.8 M without the pooler, so it is counted)."""
    assert abs(parameter_count(ZOO[name]) - millions * 1e6) < 0.5e6


def test_default_lengths_are_valid_for_the_model():
    assert lengths(get_spec("llama2-7b"), None, None, (128, 4)) == (128, 4)
    assert lengths(get_spec("bert-base"), None, None, (128, 4)) == (128, 0)
    assert lengths(get_spec("vit-b16"), None, None, (128, 512)) == (197, 0)
    assert lengths(get_spec("vit-h14"), None, None, (128, 512)) == (257, 0)
    assert lengths(get_spec("vit-b16"), 64, 3, (128, 4)) == (64, 3)   # given values: the tracer checks


@pytest.mark.parametrize("name, billions", [("llama2-7b", 6.738), ("llama2-13b", 13.016),
                                            ("opt-6.7b", 6.658), ("gpt2-xl", 1.558),
                                            ("bert-base", 0.1095), ("smollm2-135m", 0.1345)])
def test_parameter_counts_match_published(name, billions):
    assert parameter_count(ZOO[name]) / 1e9 == pytest.approx(billions, rel=2e-3)


def test_unknown_model_lists_known():
    with pytest.raises(UserError, match="known models: llama2-7b"):
        get_spec("llama3-8b")


def test_build_on_meta_uses_no_memory():
    model = get_spec("llama2-13b").build("meta")
    assert all(p.device.type == "meta" for p in model.parameters())
