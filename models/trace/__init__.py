"""Traces: the ordered operations of one prefill plus decode steps (DESIGN.md contract 1)."""

from models.trace.ops import MATRIX_KINDS, Op, OpKind, Phase, Trace

__all__ = ["MATRIX_KINDS", "Op", "OpKind", "Phase", "Trace"]
