import pytest

from core.errors import UserError
from models.zoo import ZOO, get_spec, parameter_count


def test_published_shapes():
    s = get_spec("llama2-7b").shape
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.ffn, s.vocab, s.head_dim) == (32, 4096, 32, 32, 11008, 32000, 128)
    s = get_spec("smollm2-135m").shape
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.ffn, s.head_dim) == (30, 576, 9, 3, 1536, 64)


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
