"""The trace file format (version 1), documented in ``docs/trace-format.md``.

A trace file is one JSON document (gzip-compressed when the name ends in ``.gz``)::

    {"format": "tapeout-trace", "version": 1, "model": {...}, "prefill": P, "decode": D,
     "batch": B, "tensors": "name.safetensors" | null, "ops": [{...}, ...]}

Loading checks the header, the version and every op, and raises :class:`UserError` naming the
file and the first problem; ``load(save(t)) == t`` for every trace.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

from models.trace.ops import MATRIX_KINDS, Op, OpKind, Phase, Trace
from tapeout.errors import UserError
from tapeout.files import write_atomic

FORMAT = "tapeout-trace"
VERSION = 1

_ATTENTION = frozenset({OpKind.ATTN_SCORE, OpKind.ATTN_VALUE})


def op_to_dict(op: Op) -> dict:
    """The JSON form of an op: GEMM fields only for matrix products, heads only for attention."""
    d = {"name": op.name, "kind": op.kind.value, "layer": op.layer, "phase": op.phase.value,
         "step": op.step, "inputs": [list(s) for s in op.inputs],
         "outputs": [list(s) for s in op.outputs], "dtype": op.dtype}
    if op.kind in MATRIX_KINDS:
        d.update(m=op.m, k=op.k, n=op.n, batch=op.batch)
    if op.kind in _ATTENTION:
        d.update(heads=op.heads, kv_heads=op.kv_heads)
    return d


def _int(value, what: str, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{what} must be an integer ≥ {low}, got {value!r}")
    return value


def _shapes(value, what: str) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list of shapes")
    return tuple(tuple(_int(d, what) for d in shape) for shape in value)


def op_from_dict(d: dict) -> Op:
    if not isinstance(d, dict):
        raise ValueError("an op must be an object")
    try:
        kind = OpKind(d["kind"])
        phase = Phase(d["phase"])
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    layer = d["layer"]
    if layer is not None:
        _int(layer, "layer")
    gemm = {}
    if kind in MATRIX_KINDS:
        gemm = {f: _int(d[f], f, 1) for f in ("m", "k", "n", "batch")}
    if kind in _ATTENTION:
        gemm |= {f: _int(d[f], f, 1) for f in ("heads", "kv_heads")}
    if not isinstance(d["name"], str) or not isinstance(d["dtype"], str):
        raise ValueError("name and dtype must be strings")
    return Op(name=d["name"], kind=kind, layer=layer, phase=phase, step=_int(d["step"], "step"),
              inputs=_shapes(d["inputs"], "inputs"), outputs=_shapes(d["outputs"], "outputs"),
              dtype=d["dtype"], **gemm)


def trace_to_dict(trace: Trace) -> dict:
    return {"format": FORMAT, "version": VERSION, "model": trace.model, "prefill": trace.prefill,
            "decode": trace.decode, "batch": trace.batch, "tensors": trace.tensors,
            "ops": [op_to_dict(op) for op in trace.ops]}


def save(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` atomically; gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    data = json.dumps(trace_to_dict(trace), separators=(",", ":")).encode()
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=6, mtime=0)
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def load(path: str | Path) -> Trace:
    """Read a trace file; any problem is a :class:`UserError` naming ``path``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"trace file {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"cannot read trace file {path}: {exc}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        doc = json.loads(raw)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a readable trace file (truncated or corrupt: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UserError(f"{path} is not a tapeout trace file (no \"format\": \"{FORMAT}\" header)")
    if doc.get("version") != VERSION:
        raise UserError(f"{path} is a trace of version {doc.get('version')!r}; this tapeout reads "
                        f"version {VERSION} — re-create it with `tapeout trace`")
    try:
        ops = []
        for i, d in enumerate(doc["ops"]):
            try:
                ops.append(op_from_dict(d))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"op {i}: {exc!r}") from None
        trace = Trace(model=doc["model"], prefill=_int(doc["prefill"], "prefill", 1),
                      decode=_int(doc["decode"], "decode"), batch=_int(doc["batch"], "batch", 1),
                      ops=ops, tensors=doc.get("tensors"))
        if not isinstance(trace.model, dict) or not isinstance(trace.model.get("name"), str):
            raise ValueError("model must be an object with a name")
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path} is a damaged trace file: {exc}") from None
    return trace
