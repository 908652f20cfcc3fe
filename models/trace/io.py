"""The trace file format (version 1), documented in ``docs/trace-format.md``.

A trace file is one JSON document (gzip-compressed when the name ends in ``.gz``)::

    {"format": "tapeout-trace", "version": 1, "model": {...}, "prefill": P, "decode": D,
     "batch": B, "tensors": "name.safetensors" | null, "ops": [{...}, ...]}

Loading checks the header, the version, every op (integers bounded by ``MAX_DIM``) and that the
ops agree with the header (a prefill, exactly ``decode`` decode steps), and raises
:class:`UserError` naming the file and the first problem; ``load(save(t)) == t`` for every trace.
"""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from pathlib import Path

from core.errors import UserError
from core.files import write_files
from models.trace.ops import MATRIX_KINDS, Op, OpKind, Phase, Trace, bounded_int

FORMAT = "tapeout-trace"
VERSION = 1

_ATTENTION = frozenset({OpKind.ATTN_SCORE, OpKind.ATTN_VALUE})
MODEL_SIZES = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab",
               "max_positions", "parameters", "weight_bytes")
MAX_MODEL_SIZE = 2**53  # largest model size field (parameters, bytes): exact in float64


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


def _shapes(value, what: str) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, list) or not all(isinstance(shape, list) for shape in value):
        raise ValueError(f"{what} must be a list of shapes (lists of ints)")
    return tuple(tuple(bounded_int(d, what) for d in shape) for shape in value)


def op_from_dict(d: dict) -> Op:
    """An op from its JSON form; every int in ``[0, MAX_DIM]`` (GEMM fields and heads ≥ 1)."""
    if not isinstance(d, dict):
        raise ValueError("an op must be an object")
    try:
        kind = OpKind(d["kind"])
        phase = Phase(d["phase"])
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    layer = d["layer"]
    if layer is not None:
        bounded_int(layer, "layer")
    gemm = {}
    if kind in MATRIX_KINDS:
        gemm = {f: bounded_int(d[f], f, 1) for f in ("m", "k", "n", "batch")}
    if kind in _ATTENTION:
        gemm |= {f: bounded_int(d[f], f, 1) for f in ("heads", "kv_heads")}
    if not isinstance(d["name"], str) or not isinstance(d["dtype"], str):
        raise ValueError("name and dtype must be strings")
    return Op(name=d["name"], kind=kind, layer=layer, phase=phase, step=bounded_int(d["step"], "step"),
              inputs=_shapes(d["inputs"], "inputs"), outputs=_shapes(d["outputs"], "outputs"),
              dtype=d["dtype"], **gemm)


def trace_to_dict(trace: Trace) -> dict:
    return {"format": FORMAT, "version": VERSION, "model": trace.model, "prefill": trace.prefill,
            "decode": trace.decode, "batch": trace.batch, "tensors": trace.tensors,
            "ops": [op_to_dict(op) for op in trace.ops]}


def encode(trace: Trace, *, compress: bool) -> bytes:
    """The bytes of a trace file (gzip-compressed, reproducibly, when ``compress``)."""
    data = json.dumps(trace_to_dict(trace), separators=(",", ":")).encode()
    return gzip.compress(data, compresslevel=6, mtime=0) if compress else data


def save(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` atomically; gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    return write_files({path: encode(trace, compress=path.suffix == ".gz")})[0]


def _json_type(value) -> str:
    """How JSON spells the type of ``value``, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _reason(exc: Exception) -> str:
    """The message of a loading error (a KeyError's is only the key)."""
    return f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)


def _ops(value) -> list[Op]:
    if not isinstance(value, list):
        raise ValueError(f"ops must be a list of operations, got {_json_type(value)}")
    if not value:
        raise ValueError("it has no operations (\"ops\" is empty)")
    ops = []
    for i, d in enumerate(value):
        try:
            ops.append(op_from_dict(d))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"op {i}: {_reason(exc)}") from None
    return ops


def _model(model) -> dict:
    """The model header: a name; family and dtype strings; sizes integers in [0, 2^53]."""
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise ValueError("model must be an object with a name")
    for key in ("family", "dtype"):
        if key in model and not isinstance(model[key], str):
            raise ValueError(f"model.{key} must be a string, got {_json_type(model[key])}")
    for key in MODEL_SIZES:
        if key in model:
            bounded_int(model[key], f"model.{key}", 0, MAX_MODEL_SIZE,
                        "2^53: sizes must stay exact in float64")
    return model


def _check_steps(trace: Trace) -> None:
    """The ops hold what the header says: a prefill (step 0) and decode steps 0 … decode − 1."""
    decode_steps = set()
    for i, op in enumerate(trace.ops):
        if op.phase is Phase.PREFILL and op.step != 0:
            raise ValueError(f"op {i} is a prefill op with step {op.step}; prefill ops have step 0")
        if op.phase is Phase.DECODE:
            if op.step >= trace.decode:
                raise ValueError(f"op {i} is in decode step {op.step} but the header says "
                                 f"decode {trace.decode} (steps 0 … decode − 1)")
            decode_steps.add(op.step)
    if not any(op.phase is Phase.PREFILL for op in trace.ops):
        raise ValueError(f"the header says prefill {trace.prefill} but no op is in the prefill phase")
    if len(decode_steps) != trace.decode:
        raise ValueError(f"the header says decode {trace.decode} but the ops hold "
                         f"{len(decode_steps)} decode step(s)")


def trace_from_dict(doc: dict) -> Trace:
    """A trace from its JSON form, checked (module docstring); ValueError/KeyError/TypeError."""
    tensors = doc.get("tensors")
    if tensors is not None and not isinstance(tensors, str):
        raise ValueError("tensors must be null or a file name")
    trace = Trace(model=_model(doc["model"]), prefill=bounded_int(doc["prefill"], "prefill", 1),
                  decode=bounded_int(doc["decode"], "decode"),
                  batch=bounded_int(doc["batch"], "batch", 1), ops=_ops(doc["ops"]), tensors=tensors)
    _check_steps(trace)
    return trace


def _read_json(path: Path) -> object:
    """The JSON document in ``path`` (gunzipped when it starts with the gzip magic)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"trace file {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"cannot read trace file {path}: {exc}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except RecursionError:
        raise UserError(f"{path} is not a readable trace file (JSON nested too deeply)") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a readable trace file (truncated or corrupt: {exc})") from None
    except ValueError:  # the only other one: an integer of more than sys.get_int_max_str_digits()
        raise UserError(f"{path} is not a readable trace file (a number has more than "
                        f"{sys.get_int_max_str_digits()} digits)") from None


def load(path: str | Path) -> Trace:
    """Read a trace file; any problem is a :class:`UserError` naming ``path``."""
    path = Path(path)
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UserError(f"{path} is not a tapeout trace file (no \"format\": \"{FORMAT}\" header)")
    if doc.get("version") != VERSION:
        raise UserError(f"{path} is a trace of version {doc.get('version')!r}; this tapeout reads "
                        f"version {VERSION} — re-create it with `tapeout trace`")
    try:
        return trace_from_dict(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path} is a damaged trace file: {_reason(exc)}") from None
