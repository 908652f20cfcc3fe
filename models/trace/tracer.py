"""Drive a zoo model through one prefill and decode steps under the :class:`Recorder`.

Models without trained weights run on the ``meta`` device (shapes only, no memory). Text models
are fed token ids ``[batch, prefill]``; an image model (ViT) is fed ``pixel_values [batch,
channels, size, size]`` and its prefill must equal its token count (patches + CLS). Decode
steps differ only in the context length L = prefill + step + 1, so after tracing steps 0 and 1
the later steps are produced from step 1 by substituting L (``extrapolate``); this is checked
op for op against full tracing in the tests, and skipped whenever tensors are recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from core.collector import collector_paused
from core.errors import UserError
from models.trace.capture import Recorder, TensorSink
from models.trace.ops import Op, Phase, Trace
from models.zoo import ModelSpec, get_spec


def _check_counts(spec: ModelSpec, prefill: int, decode: int, batch: int) -> None:
    for label, value, low in (("--prefill", prefill, 1), ("--decode", decode, 0), ("--batch", batch, 1)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise UserError(f"{label} must be an integer, got {value!r}")
        if value < low:
            raise UserError(f"{label} must be at least {low}, got {value}")
    if not spec.causal and decode:
        raise UserError(f"{spec.name} is an encoder and has no decode phase; use --decode 0")
    image = spec.image
    if image is not None and prefill != image.tokens:
        raise UserError(f"{spec.name} reads one {image.size}×{image.size} image as {image.tokens} tokens "
                        f"({image.patches} patches of {image.patch}×{image.patch} pixels + CLS); "
                        f"use --prefill {image.tokens}, not {prefill}")
    if prefill + decode > spec.shape.max_positions:
        raise UserError(f"{spec.name} handles at most {spec.shape.max_positions} positions; "
                        f"--prefill {prefill} + --decode {decode} is more")


def _model_info(spec: ModelSpec, model: torch.nn.Module, dtype: torch.dtype) -> dict:
    params = sum(p.numel() for p in model.parameters())
    s = spec.shape
    return {"name": spec.name, "family": spec.family, "layers": s.layers, "hidden": s.hidden,
            "heads": s.heads, "kv_heads": s.kv_heads, "head_dim": s.head_dim, "ffn": s.ffn,
            "vocab": s.vocab, "max_positions": s.max_positions, "parameters": params,
            "dtype": str(dtype).removeprefix("torch."),
            "weight_bytes": params * torch.finfo(dtype).bits // 8}


def _lm_head_name(model: torch.nn.Module) -> str | None:
    for name in ("lm_head",):
        if isinstance(getattr(model, name, None), torch.nn.Module):
            return name
    return None


def _load(spec: ModelSpec, real: bool):
    if real:
        if not spec.trained:
            raise UserError(f"{spec.name} has no trained weights; --tensors needs a real model "
                            f"(models with weights: smollm2-135m)")
        from models import smollm2
        return smollm2.load_model(torch.float32), torch.float32
    return spec.build("meta", torch.float16), torch.float16


def _model_inputs(spec: ModelSpec, batch: int, prefill: int, real: bool,
                  dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The forward's keyword inputs: ``input_ids [batch, prefill]``, or for an image model
    ``pixel_values [batch, channels, size, size]`` (meta, ``dtype``)."""
    image = spec.image
    if image is not None:
        shape = (batch, image.channels, image.size, image.size)
        return {"pixel_values": torch.zeros(shape, dtype=dtype, device="meta")}
    return {"input_ids": _prompt(spec, batch, prefill, real)}


def _prompt(spec: ModelSpec, batch: int, prefill: int, real: bool) -> torch.Tensor:
    if not real:
        return torch.zeros((batch, prefill), dtype=torch.long, device="meta")
    from models import smollm2
    from models.text import default_text

    ids = smollm2.load_tokenizer()(default_text(), return_tensors="pt").input_ids[0]
    need = batch * prefill
    if ids.numel() < need:
        raise UserError(f"the default text has only {ids.numel()} tokens; need {need}")
    return ids[:need].reshape(batch, prefill)


@dataclasses.dataclass(frozen=True)
class _ContextSlots:
    """Where the context length sits in one decode-step op: shape dims and GEMM fields."""

    inputs: tuple[tuple[int, int], ...]
    outputs: tuple[tuple[int, int], ...]
    gemm: tuple[str, ...]


def _shape_slots(a: tuple, b: tuple, l0: int) -> tuple[tuple[int, int], ...] | None:
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b, strict=True)):
        return None
    slots = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        for j, (u, v) in enumerate(zip(x, y, strict=True)):
            if u != v:
                if (u, v) != (l0, l0 + 1):
                    return None
                slots.append((i, j))
    return tuple(slots)


def _context_slots(step0: list[Op], step1: list[Op], l0: int) -> list[_ContextSlots] | None:
    """Per op, the fields that grow with the context (l0 at step 0, l0 + 1 at step 1).

    ``None`` when the steps differ in any other way (then no extrapolation is done).
    Slots are found by comparing the two steps, never by value, so a static dimension that
    happens to equal a context length is left alone.
    """
    if len(step0) != len(step1):
        return None
    slots = []
    for a, b in zip(step0, step1, strict=True):
        gemm = []
        for f in ("m", "k", "n"):
            u, v = getattr(a, f), getattr(b, f)
            if u != v:
                if (u, v) != (l0, l0 + 1):
                    return None
                gemm.append(f)
        ins, outs = _shape_slots(a.inputs, b.inputs, l0), _shape_slots(a.outputs, b.outputs, l0)
        rest_equal = dataclasses.replace(a, step=b.step, inputs=b.inputs, outputs=b.outputs,
                                         m=b.m, k=b.k, n=b.n) == b
        if ins is None or outs is None or not rest_equal:
            return None
        slots.append(_ContextSlots(ins, outs, tuple(gemm)))
    return slots


def _with_context(op: Op, slots: _ContextSlots, step: int, context: int) -> Op:
    def put(shapes, where):
        if not where:
            return shapes
        out = [list(s) for s in shapes]
        for i, j in where:
            out[i][j] = context
        return tuple(tuple(s) for s in out)

    gemm = {f: context for f in slots.gemm}
    return Op(op.name, op.kind, op.layer, op.phase, step, put(op.inputs, slots.inputs),
              put(op.outputs, slots.outputs), op.dtype, gemm.get("m", op.m), gemm.get("k", op.k),
              gemm.get("n", op.n), op.batch, op.heads, op.kv_heads)


def trace_model(name: str, prefill: int, decode: int, *, batch: int = 1,
                tensors: str | None = None, extrapolate: bool = True) -> tuple[Trace, dict]:
    """Trace ``name``; returns the trace and the recorded tensors (empty unless ``tensors``).

    ``tensors`` is an fnmatch pattern of op names whose tensors are recorded (real models only).
    """
    with collector_paused():
        return _trace(name, prefill, decode, batch, tensors, extrapolate)


def _trace(name: str, prefill: int, decode: int, batch: int, tensors: str | None,
           extrapolate: bool) -> tuple[Trace, dict]:
    spec = get_spec(name)
    _check_counts(spec, prefill, decode, batch)
    real = tensors is not None
    model, dtype = _load(spec, real)
    sink = TensorSink(tensors) if real else None
    recorder = Recorder(model, lm_head=_lm_head_name(model), rotary=spec.family == "llama", sink=sink)
    inputs = _model_inputs(spec, batch, prefill, real, dtype)
    steps_to_run = decode if (real or not extrapolate) else min(decode, 2)
    per_step: list[list[Op]] = []
    try:
        with torch.no_grad(), recorder:
            if not spec.causal:
                model(**inputs)
            else:
                ids = inputs["input_ids"]
                device = ids.device
                out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
                past = out.cache
                for step in range(steps_to_run):
                    recorder.finish()
                    start = len(recorder.ops)
                    recorder.phase, recorder.step = Phase.DECODE, step
                    token = (out.logits[:, -1:].argmax(-1) if real
                             else torch.zeros((batch, 1), dtype=torch.long, device=device))
                    out = model(input_ids=token, cache=past, use_cache=True, logits_to_keep=1)
                    past = out.cache
                    recorder.finish()
                    per_step.append(recorder.ops[start:])
            recorder.finish()
    finally:
        recorder.remove_hooks()
    ops = recorder.ops
    if steps_to_run < decode:
        slots = _context_slots(per_step[0], per_step[1], prefill + 1)
        if slots is None:
            return _trace(name, prefill, decode, batch, tensors, extrapolate=False)
        for step in range(2, decode):
            ops.extend(_with_context(op, slot, step, prefill + step + 1)
                       for op, slot in zip(per_step[1], slots, strict=True))
    trace = Trace(model=_model_info(spec, model, dtype), prefill=prefill, decode=decode,
                  batch=batch, ops=ops)
    return trace, (sink.tensors if sink else {})


def decode_steps(name: str, contexts: Sequence[int], *, batch: int = 1) -> dict[int, list[Op]]:
    """The ops of one decode step at each context length L in ``contexts`` (tokens attended,
    the new one included; L ≥ 2), as step 0 of a trace with a prefill of L − 1 tokens would
    record them. Traces two steps once, at the smallest L, and substitutes L as
    :func:`trace_model` extrapolates (tracing each context when the steps differ otherwise)."""
    spec = get_spec(name)
    wanted = sorted(set(contexts))
    if not wanted or wanted[0] < 2:
        raise UserError(f"a decode context must be at least 2 tokens (one prompt token and the new "
                        f"one), got {wanted[0] if wanted else 'none'}")
    _check_counts(spec, wanted[-1] - 1, 1, batch)
    first = wanted[0]
    slots = None
    if len(wanted) > 1 and first + 1 <= spec.shape.max_positions:
        trace, _ = trace_model(name, first - 1, 2, batch=batch, extrapolate=False)
        step0 = [op for op in trace.ops if op.phase is Phase.DECODE and op.step == 0]
        step1 = [op for op in trace.ops if op.phase is Phase.DECODE and op.step == 1]
        slots = _context_slots(step0, step1, first)
    if slots is None:       # one context, no room for a second step, or steps that differ
        return {c: [op for op in trace_model(name, c - 1, 1, batch=batch)[0].ops
                    if op.phase is Phase.DECODE] for c in wanted}
    return {c: [_with_context(op, slot, 0, c) for op, slot in zip(step0, slots, strict=True)]
            for c in wanted}
