"""Trace capture: run a model and record every operation it computes, in order.

Two mechanisms work together:

- **module hooks** record the operations that are whole modules — ``nn.Linear``/``Conv1D``
  (``linear``, or ``lm_head``), ``nn.Conv2d`` (``linear``: lowered to its im2col GEMM, see
  :func:`_im2col`), ``nn.Embedding`` (``embedding``), LayerNorm/RMSNorm (``norm``) and
  activation modules (``activation``) — and keep a stack of the module names;
- a **TorchFunctionMode** sees every torch call made by the remaining Python code, so the
  attention products are captured whatever implementation runs them:
  ``scaled_dot_product_attention`` becomes ``attn_score`` → ``softmax`` → ``attn_value``, and an
  eager ``matmul`` inside an attention module is a score before its softmax and a value product
  after it. Consecutive element-wise calls in one module merge into one ``eltwise`` op (``rope``
  when they rotate q/k before the scores of a rotary model).

Calls outside the transformer blocks that are not modules (mask building, rotary tables) are
not accelerator work and are not recorded — except inside an embeddings module (a class named
``…Embeddings``: BERT's sum of its three embeddings, ViT's CLS token and position embeddings),
where the element-wise calls are the model's own work and a concatenation (ViT's CLS token
before the patches) joins or starts their run, so the op reads what the embeddings combine.
Grouped-query attention is reported with ``heads`` (query heads) and ``kv_heads`` from the
attention module.

Matrix work the Recorder cannot classify is refused with a :class:`UserError` naming the module,
never dropped: a convolution, linear, einsum or matrix product called anywhere but inside the
modules above or an attention module (e.g. a grouped or transposed convolution, which is not one
im2col GEMM and so not lowered).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from core.errors import UserError
from models.trace.ops import Op, OpKind, Phase

_LAYER_RE = re.compile(r"\.(?:layers|layer|h)\.(\d+)(?:\.|$)")

# Arithmetic only: cat/stack are data movement (e.g. the KV-cache append), not accelerator work;
# they only join a run of element-wise calls whose own tensors they rearrange (_MOVEMENT).
_MOVEMENT = frozenset({"cat", "stack"})
_ELTWISE = frozenset({
    "add", "radd", "iadd", "sub", "rsub", "isub", "mul", "rmul", "imul", "div", "truediv",
    "rtruediv", "itruediv", "neg", "pow", "rsqrt", "sqrt", "tanh", "exp", "sigmoid",
    "clamp", "where", "masked_fill", "silu", "gelu", "relu",
})
_MATMUL = frozenset({"matmul", "bmm", "matmul_"})
# Matrix work outside the modules the Recorder classifies: refused, never silently dropped.
_UNCLASSIFIED = _MATMUL | frozenset({
    "linear", "bilinear", "addmm", "baddbmm", "addbmm", "mm", "einsum", "tensordot",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "convolution",
})

LEAF, ATTENTION, EMBEDDINGS, IGNORE, OTHER = "leaf", "attention", "embeddings", "ignore", "other"


def _activation_classes() -> tuple[type, ...]:
    from transformers import activations

    hf = tuple(c for c in vars(activations).values()
               if isinstance(c, type) and issubclass(c, nn.Module) and c.__name__.endswith("Activation"))
    return hf + (nn.SiLU, nn.GELU, nn.ReLU, nn.Tanh, nn.Sigmoid)


def _leaf_kind(module: nn.Module, name: str, lm_head: str | None) -> OpKind | None:
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, (nn.Linear, Conv1D)):
        return OpKind.LM_HEAD if name == lm_head else OpKind.LINEAR
    if isinstance(module, nn.Conv2d) and module.groups == 1:
        return OpKind.LINEAR  # lowered to its im2col GEMM (_im2col)
    if isinstance(module, nn.Embedding):
        return OpKind.EMBEDDING
    if isinstance(module, nn.LayerNorm) or type(module).__name__.endswith(("RMSNorm", "LayerNorm")):
        return OpKind.NORM
    if isinstance(module, _activation_classes()):
        return OpKind.ACTIVATION
    return None


def _role(module: nn.Module, kind: OpKind | None) -> str:
    if kind is not None:
        return LEAF
    cls = type(module).__name__
    if "Rotary" in cls:
        return IGNORE
    if "Attention" in cls:
        return ATTENTION
    if cls.endswith("Embeddings"):
        return EMBEDDINGS
    return OTHER


def _im2col(conv: nn.Conv2d, x: torch.Tensor, y: torch.Tensor) -> tuple[tuple, tuple]:
    """The GEMM an (ungrouped) 2-D convolution is lowered to, as im2col: every output position
    is one row holding the C_in · k_h · k_w input pixels its kernel window reads, so the conv of
    ``x [.., C_in, H, W]`` into ``y [.., C_out, H', W']`` is ``[.., H'·W', C_in·k_h·k_w] @ Wᵀ``
    with ``W = weight.reshape(C_out, -1)`` — M = batch · H'·W', K = C_in·k_h·k_w, N = C_out
    (ViT's patch embedding, kernel = stride = patch: M = batch · patches, K = 3 · patch²,
    N = hidden). Returns the shapes of the two matrices (input rows, output rows)."""
    *lead, _, _, _ = x.shape
    positions = math.prod(int(d) for d in y.shape[-2:])
    k = conv.in_channels * math.prod(conv.kernel_size)
    return (*map(int, lead), positions, k), (*map(int, lead), positions, conv.out_channels)


def _im2col_tensors(conv: nn.Conv2d, x: torch.Tensor, y: torch.Tensor):
    """The im2col matrices of one convolution call (see :func:`_im2col`), for the tensor sink:
    the padded input unfolded into ``[.., H'·W', K]`` rows and the output as ``[.., H'·W', N]``."""
    # _reversed_padding_repeated_twice: the module's own F.pad amounts (also for "same").
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    padded = F.pad(x, conv._reversed_padding_repeated_twice, mode=mode)
    rows = F.unfold(padded, conv.kernel_size, dilation=conv.dilation, stride=conv.stride)
    return rows.transpose(-1, -2), y.flatten(-2).transpose(-1, -2)


def layer_of(name: str) -> int | None:
    match = _LAYER_RE.search("." + name)
    return int(match.group(1)) if match else None


def _shape(t) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape)


def _norm_name(func) -> str:
    return getattr(func, "__name__", "").strip("_")


@dataclass
class _Frame:
    name: str
    role: str
    module: nn.Module
    kind: OpKind | None
    layer: int | None


def _root(t: torch.Tensor) -> torch.Tensor:
    """The tensor whose storage ``t`` views (``t`` itself if it is not a view)."""
    while t._base is not None:
        t = t._base
    return t


class _Pending:
    """An open run of element-wise calls in one module, merged into one op. Tensors are taken
    at their storage (views — transposes, slices — count as the tensor they view): the op's
    inputs are the tensors the run reads from outside, each once; its outputs the tensors it
    produces that no later call of the run consumes (RoPE: q, k, cos, sin in; rotated q and k
    out)."""

    def __init__(self, name: str, kind: OpKind, layer: int | None, dtype: str):
        self.name, self.kind, self.layer, self.dtype = name, kind, layer, dtype
        self._read: dict[int, torch.Tensor] = {}       # id → tensor, kept alive so ids stay unique
        self._made: dict[int, torch.Tensor] = {}
        self._consumed: set[int] = set()

    def knows(self, t: torch.Tensor) -> bool:
        root = id(_root(t))
        return root in self._made or root in self._read

    def add(self, tensors: list[torch.Tensor], out: torch.Tensor) -> None:
        for t in map(_root, tensors):
            if id(t) in self._made:
                self._consumed.add(id(t))
            else:
                self._read.setdefault(id(t), t)
        out = _root(out)
        self._made[id(out)] = out

    @property
    def inputs(self) -> tuple:
        return tuple(_shape(t) for t in self._read.values())

    @property
    def outputs(self) -> tuple:
        return tuple(_shape(t) for i, t in self._made.items() if i not in self._consumed)


class TensorSink:
    """Collects tensors of matrix ops whose name matches ``pattern`` (fnmatch).

    Keys: ``op{index}.input`` (M×K operand), ``op{index}.other`` (key or value cache of an
    attention product), ``op{index}.output``; linear weights once per module as
    ``weight.{module}`` in ``[N, K]`` layout.
    """

    def __init__(self, pattern: str = "*"):
        self.pattern = pattern
        self.tensors: dict[str, torch.Tensor] = {}

    def wants(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)

    def put(self, key: str, tensor: torch.Tensor) -> None:
        self.tensors[key] = tensor.detach().to("cpu").contiguous().clone()


class Recorder(TorchFunctionMode):
    """Records ops while active; see the module docstring for the rules."""

    def __init__(self, model: nn.Module, *, lm_head: str | None, rotary: bool,
                 sink: TensorSink | None = None):
        super().__init__()
        self.ops: list[Op] = []
        self.rotary = rotary
        self.sink = sink
        self.phase = Phase.PREFILL
        self.step = 0
        self._stack: list[_Frame] = []
        self._leaf_depth = 0
        self._pending: _Pending | None = None
        self._attn_state: dict[str, str] = {}  # attention module → before/scored/softmaxed
        self._handles = []
        for name, module in model.named_modules():
            kind = _leaf_kind(module, name, lm_head)
            frame = _Frame(name, _role(module, kind), module, kind, layer_of(name))
            self._handles.append(module.register_forward_pre_hook(self._enter(frame)))
            self._handles.append(module.register_forward_hook(self._leave(frame)))

    def remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # -- module hooks ---------------------------------------------------------------------
    def _enter(self, frame: _Frame) -> Callable:
        def hook(module, args):
            self._flush()
            self._stack.append(frame)
            if frame.role == LEAF:
                self._leaf_depth += 1
            elif frame.role == ATTENTION:
                self._attn_state[frame.name] = "before"
        return hook

    def _leave(self, frame: _Frame) -> Callable:
        def hook(module, args, output):
            self._flush()
            popped = self._stack.pop()
            assert popped is frame, "module hooks out of order"
            if frame.role == LEAF:
                self._leaf_depth -= 1
                if self._leaf_depth == 0:
                    self._module_op(frame, args[0], output)
        return hook

    def _module_op(self, frame: _Frame, x: torch.Tensor, y) -> None:
        y = y[0] if isinstance(y, tuple) else y
        conv = isinstance(frame.module, nn.Conv2d)
        x_shape, y_shape = _im2col(frame.module, x, y) if conv else (_shape(x), _shape(y))
        common = dict(name=frame.name, kind=frame.kind, layer=frame.layer, phase=self.phase,
                      step=self.step, inputs=(x_shape,), outputs=(y_shape,))
        if frame.kind in (OpKind.LINEAR, OpKind.LM_HEAD):
            weight = frame.module.weight
            op = Op(**common, dtype=str(weight.dtype).removeprefix("torch."),
                    m=math.prod(x_shape[:-1]), k=x_shape[-1], n=y_shape[-1], batch=1)
            self._emit(op)
            if self.sink and self.sink.wants(op.name):
                index = len(self.ops) - 1
                key = f"weight.{frame.name}"
                if key not in self.sink.tensors:
                    # nn.Linear stores [N, K]; GPT-2's Conv1D stores [K, N]; Conv2d
                    # [N, C_in, k_h, k_w], whose rows are the im2col order (_im2col).
                    w = (weight if isinstance(frame.module, nn.Linear)
                         else weight.reshape(weight.shape[0], -1) if conv else weight.t())
                    self.sink.put(key, w)
                if conv:
                    x, y = _im2col_tensors(frame.module, x, y)
                self.sink.put(f"op{index}.input", x)
                self.sink.put(f"op{index}.output", y)
        else:
            dtype = y.dtype if frame.kind == OpKind.EMBEDDING else x.dtype
            self._emit(Op(**common, dtype=str(dtype).removeprefix("torch.")))

    # -- function mode --------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._leaf_depth or not self._stack:
            return out
        frame = self._stack[-1]
        if any(f.role == IGNORE for f in self._stack):
            return out
        attention = next((f for f in reversed(self._stack) if f.role == ATTENTION), None)
        fname = _norm_name(func)
        recorded = frame.layer is not None or frame.role == EMBEDDINGS
        if func is F.scaled_dot_product_attention and attention is not None:
            self._sdpa(attention, args, kwargs, out)
        elif fname in _MATMUL and attention is not None:
            self._attention_matmul(attention, args[0], args[1], out)
        elif fname in _UNCLASSIFIED:
            raise UserError(f"cannot trace {frame.name or 'the model'} "
                            f"({type(frame.module).__name__}): it calls {fname}, matrix work tapeout "
                            "does not classify (it traces nn.Linear, Conv1D and ungrouped nn.Conv2d "
                            "modules, and the products inside attention modules)")
        elif fname == "softmax" and attention is not None:
            self._flush()
            self._attn_state[attention.name] = "softmaxed"
            self._vector_op(attention, OpKind.SOFTMAX, "softmax", (args[0],), out)
        elif fname in _ELTWISE and recorded:
            self._eltwise(frame, attention, args, out)
        elif fname in _MOVEMENT and recorded:
            self._movement(frame, attention, args, out)
        return out

    def _vector_op(self, frame: _Frame, kind: OpKind, suffix: str, inputs, out) -> None:
        self._emit(Op(name=f"{frame.name}.{suffix}", kind=kind, layer=frame.layer,
                      phase=self.phase, step=self.step,
                      inputs=tuple(_shape(t) for t in inputs), outputs=(_shape(out),),
                      dtype=str(out.dtype).removeprefix("torch.")))

    def _heads(self, attention: _Frame, q_heads: int, k_heads: int) -> tuple[int, int]:
        groups = getattr(attention.module, "num_key_value_groups", None)
        if groups:
            return q_heads, q_heads // int(groups)
        return q_heads, k_heads

    def _product(self, attention: _Frame, kind: OpKind, a, b, out, *, transpose_b: bool) -> int:
        """Emit one attention product ``a @ b`` (``b`` given as [.., N, K] when transposed)."""
        self._flush()
        *lead, m, k = a.shape
        n = b.shape[-2] if transpose_b else b.shape[-1]
        heads = a.shape[-3] if a.dim() >= 3 else 1
        k_heads = b.shape[-3] if b.dim() >= 3 else 1
        heads, kv_heads = self._heads(attention, heads, k_heads)
        suffix = "attn_score" if kind == OpKind.ATTN_SCORE else "attn_value"
        self._emit(Op(name=f"{attention.name}.{suffix}", kind=kind, layer=attention.layer,
                      phase=self.phase, step=self.step, inputs=(_shape(a), _shape(b)),
                      outputs=(_shape(out),), dtype=str(a.dtype).removeprefix("torch."),
                      m=int(m), k=int(k), n=int(n), batch=math.prod(int(d) for d in lead),
                      heads=heads, kv_heads=kv_heads))
        return len(self.ops) - 1

    def _record_attention(self, index: int, a, b, out) -> None:
        if self.sink and self.sink.wants(self.ops[index].name):
            self.sink.put(f"op{index}.input", a)
            self.sink.put(f"op{index}.other", b)
            self.sink.put(f"op{index}.output", out)

    def _attention_matmul(self, attention: _Frame, a, b, out) -> None:
        if self._attn_state[attention.name] != "softmaxed":
            self._attn_state[attention.name] = "scored"
            # scores: query [.., Lq, D] @ key^T [.., D, Lk]; key^T arrives as a transposed view.
            index = self._product(attention, OpKind.ATTN_SCORE, a, b.transpose(-1, -2), out,
                                  transpose_b=True)
            self._record_attention(index, a, b.transpose(-1, -2), out)
        else:
            index = self._product(attention, OpKind.ATTN_VALUE, a, b, out, transpose_b=False)
            self._record_attention(index, a, b, out)
            self._attn_state[attention.name] = "before_next"

    def _sdpa(self, attention: _Frame, args, kwargs, out) -> None:
        names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")
        bound = dict(zip(names, args, strict=False)) | kwargs
        q, k, v = bound["query"], bound["key"], bound["value"]
        recording = (self.sink is not None and q.device.type != "meta"
                     and self.sink.wants(f"{attention.name}.attn_score"))
        scores = probs = torch.empty(0)
        if recording:
            scores, probs = _sdpa_intermediates(q, k, bound)
        score_shape = (*q.shape[:-1], k.shape[-2])
        i = self._product(attention, OpKind.ATTN_SCORE, q, k, torch.empty(score_shape, device="meta"),
                          transpose_b=True)
        self._vector_op(attention, OpKind.SOFTMAX, "softmax",
                        (torch.empty(score_shape, device="meta"),),
                        torch.empty(score_shape, device="meta", dtype=q.dtype))
        j = self._product(attention, OpKind.ATTN_VALUE, torch.empty(score_shape, device="meta", dtype=q.dtype),
                          v, out, transpose_b=False)
        self._attn_state[attention.name] = "before_next"
        if recording:
            self._record_attention(i, q, k, scores)
            self._record_attention(j, probs, v, out)

    def _run_name(self, frame: _Frame, attention: _Frame | None) -> tuple[str, OpKind]:
        kind = OpKind.ELTWISE
        if self.rotary and frame is attention and self._attn_state[attention.name] == "before":
            kind = OpKind.ROPE
        return f"{frame.name}.{kind.value}", kind

    def _eltwise(self, frame: _Frame, attention: _Frame | None, args, out) -> None:
        if not isinstance(out, torch.Tensor):
            return
        name, kind = self._run_name(frame, attention)
        if self._pending is None or self._pending.name != name:
            self._flush()
            self._pending = _Pending(name, kind, frame.layer, str(out.dtype).removeprefix("torch."))
        self._pending.add([a for a in args if isinstance(a, torch.Tensor)], out)

    def _movement(self, frame: _Frame, attention: _Frame | None, args, out) -> None:
        """``cat`` / ``stack`` inside an open run of the same module, on tensors of that run only
        (RoPE's rotate_half), joins the run as data movement; in an embeddings module it joins
        or starts the run whatever it reads (ViT's CLS token before the patch embeddings);
        anything else is not traced."""
        parts = args[0] if args and isinstance(args[0], (list, tuple)) else ()
        tensors = [t for t in parts if isinstance(t, torch.Tensor)]
        if not isinstance(out, torch.Tensor) or not tensors:
            return
        name, kind = self._run_name(frame, attention)
        if frame.role == EMBEDDINGS:
            if self._pending is None or self._pending.name != name:
                self._flush()
                self._pending = _Pending(name, kind, frame.layer, str(out.dtype).removeprefix("torch."))
            self._pending.add(tensors, out)
            return
        p = self._pending
        if p is not None and p.name == name and all(map(p.knows, tensors)):
            p.add(tensors, out)

    def _flush(self) -> None:
        p, self._pending = self._pending, None
        if p is not None:
            self._emit(Op(name=p.name, kind=p.kind, layer=p.layer, phase=self.phase,
                          step=self.step, inputs=p.inputs, outputs=p.outputs, dtype=p.dtype))

    def _emit(self, op: Op) -> None:
        self.ops.append(op)

    def finish(self) -> None:
        self._flush()


def _sdpa_intermediates(q, k, bound) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (q·kᵀ·scale, masked) and probabilities that SDPA computes internally."""
    kk = k
    if k.shape[-3] != q.shape[-3]:
        kk = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
    scale = bound.get("scale") or 1.0 / math.sqrt(q.shape[-1])
    raw = torch.matmul(q, kk.transpose(-1, -2))
    scores = raw * scale
    mask = bound.get("attn_mask")
    if bound.get("is_causal"):
        lq, lk = q.shape[-2], k.shape[-2]
        causal = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=lk - lq)
        scores = scores.masked_fill(~causal, float("-inf"))
    elif mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    return raw, probs
