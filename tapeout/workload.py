"""The MODEL argument of ``simulate``/``compare``: a zoo name, a saved trace file, or a GEMM
topology CSV in SCALE-Sim's format (``Layer,M,N,K`` rows: A is M × K, B is K × N; UTF-8, a
byte-order mark allowed; 1 ≤ M, N, K ≤ ``MAX_DIM`` = 2^24)."""

from __future__ import annotations

import csv
from pathlib import Path

from core.errors import UserError
from models.trace.ops import Op, OpKind, Phase, Trace, bounded_int


def _gemm_op(name: str, index: int, m: int, n: int, k: int) -> Op:
    return Op(name=name, kind=OpKind.LINEAR, layer=index, phase=Phase.PREFILL, step=0,
              inputs=((m, k),), outputs=((m, n),), dtype="float16", m=m, k=k, n=n, batch=1)


def load_topology_csv(path: Path) -> Trace:
    """A SCALE-Sim GEMM topology: one ``linear`` op per row, in order, phase ``prefill``."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if not rows:
        raise UserError(f"{path} is empty; expected a header `Layer,M,N,K` and one row per GEMM")
    header = [c.strip().lower() for c in rows[0] if c.strip()]
    if header[:4] != ["layer", "m", "n", "k"]:
        raise UserError(f"{path}: header must start with `Layer,M,N,K` (SCALE-Sim GEMM format), got {rows[0]}")
    ops = []
    for line, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        try:
            name, m, n, k = cells[0], int(cells[1]), int(cells[2]), int(cells[3])
        except (IndexError, ValueError):
            raise UserError(f"{path}:{line}: expected `name,M,N,K` with integer M, N, K, got {row}") from None
        try:
            m, n, k = (bounded_int(v, d, 1) for v, d in ((m, "M"), (n, "N"), (k, "K")))
        except ValueError as exc:
            raise UserError(f"{path}:{line}: {exc}") from None
        ops.append(_gemm_op(name, len(ops), m, n, k))
    if not ops:
        raise UserError(f"{path} has a header but no GEMM rows")
    params = sum(op.k * op.n for op in ops)
    model = {"name": path.stem, "family": "gemm-topology", "layers": len(ops), "parameters": params,
             "dtype": "float16", "weight_bytes": 2 * params}
    return Trace(model=model, prefill=max(op.m for op in ops), decode=0, batch=1, ops=ops)


DEFAULT_LENGTHS = (128, 512)
"""A causal text model's default prefill tokens and decode steps (see :func:`models.zoo.lengths`)."""


def load_workload(model: str, prefill: int | None, decode: int | None, *, batch: int = 1) -> Trace:
    """Resolve MODEL (see the module docstring); ``prefill``/``decode`` (``None``: the model's
    defaults, :data:`DEFAULT_LENGTHS`) and ``batch`` apply to zoo models only."""
    path = Path(model)
    if model.lower().endswith(".csv"):
        if not path.exists():
            raise UserError(f"topology file {path} does not exist")
        return load_topology_csv(path)
    if path.exists() or model.endswith((".json", ".json.gz", ".gz")):
        from models.trace import io as trace_io

        return trace_io.load(path)
    from models.trace.tracer import trace_model
    from models.zoo import get_spec, lengths

    prefill, decode = lengths(get_spec(model), prefill, decode, DEFAULT_LENGTHS)
    trace, _ = trace_model(model, prefill, decode, batch=batch)
    return trace
