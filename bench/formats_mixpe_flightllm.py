"""Benchmark: MixPE W4A8 and FlightLLM N:16 sparse golden GEMMs at M = 16, K = N = 4096.

Goal (issue 3): bit-exact against the slow numpy reference and at least 0.25× the speed of a
numpy float32 matmul of the same shape, measured in the same run — :func:`bench.formats.gemm_case`
on the same heavy-tailed operands as the other formats. The references run on chunks of
:data:`CHUNK` weight rows (bounds the FlightLLM reference's int64 gather temporaries).
Sparse cases: 4:16 INT4 (the default sparse layer) and 8:16 INT8.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from bench.formats import _operands, gemm_case
from sim.formats import flightllm, mixpe
from sim.formats.base import Encoded, Role
from sim.formats.flightllm import FlightLlmFormat, LayerRule

CHUNK = 256


def _rows(w: Encoded, lo: int, hi: int) -> Encoded:
    """Weight rows ``lo:hi`` of ``w`` (every per-row array sliced alike)."""
    meta = {k: v[lo:hi] if isinstance(v, np.ndarray) and v.shape[:1] == w.codes.shape[:1] else v
            for k, v in w.meta.items()}
    return dataclasses.replace(w, codes=w.codes[lo:hi], scales=w.scales[lo:hi],
                               shape=(hi - lo, w.shape[1]), meta=meta)


def _chunked(reference: Callable[[Encoded, Encoded], np.ndarray]):
    def run(x: Encoded, w: Encoded) -> np.ndarray:
        return np.concatenate([reference(x, _rows(w, lo, min(lo + CHUNK, w.shape[0])))
                               for lo in range(0, w.shape[0], CHUNK)], axis=1)
    return run


def _case(fmt, reference) -> dict:
    x, w = _operands()
    result = gemm_case(fmt, fmt.encode(x, Role.ACTIVATION, name="x"),
                       fmt.encode(w, Role.WEIGHT, name="w"), _chunked(reference))
    return result


def run() -> dict:
    result = {"mixpe-w4a8": _case(mixpe.MIXPE_W4A8, mixpe.reference_gemm)}
    for keep, bits in ((4, 4), (8, 8)):
        fmt = FlightLlmFormat([LayerRule("*", keep, bits)])
        result[f"flightllm-{keep}:16-int{bits}"] = _case(fmt, flightllm.reference_gemm)
    return result
