"""Recorded tensors of a trace: one safetensors file beside the trace file.

Keys (see :class:`models.trace.capture.TensorSink`): ``op{i}.input``, ``op{i}.other``,
``op{i}.output`` for op index ``i`` of the trace, and ``weight.{module}`` in ``[N, K]`` layout.
"""

from __future__ import annotations

from pathlib import Path

import safetensors
import safetensors.torch
import torch

from core.errors import UserError


def tensors_path(trace_path: str | Path) -> Path:
    """``x.trace.json`` / ``x.json.gz`` → ``x.safetensors`` beside it."""
    trace_path = Path(trace_path)
    name = trace_path.name
    for suffix in (".json.gz", ".json", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return trace_path.with_name(name.removesuffix(".trace") + ".safetensors")


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, *, name: Path | None = None) -> None:
    """Write ``tensors`` to ``path`` as safetensors — not atomically: callers stage it as a member
    of a file set (:func:`core.files.write_set`). Errors (a full disk) name ``name`` (the
    destination; default ``path``)."""
    try:
        safetensors.torch.save_file(tensors, str(path))
    except safetensors.SafetensorError as exc:
        raise UserError(f"cannot write {name or path}: {exc}") from None


def load_tensors(trace_path: str | Path, tensors_name: str | None) -> dict[str, torch.Tensor]:
    """The tensors recorded for the trace at ``trace_path``."""
    if tensors_name is None:
        raise UserError(f"{trace_path} has no recorded tensors; re-trace with --tensors")
    path = Path(trace_path).with_name(tensors_name)
    try:
        return safetensors.torch.load_file(str(path))
    except FileNotFoundError:
        raise UserError(f"tensor file {path} (named by {trace_path}) does not exist") from None
    except (OSError, safetensors.SafetensorError) as exc:
        raise UserError(f"{path} is not a readable safetensors file: {exc}") from None
