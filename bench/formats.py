"""Number-format benchmarks (issue 3 goals, measured in one run on this machine).

* ``ovp4_encode``: OVP-4 encoding with a known scale, one numba thread; goal ≥ 50 M values/s.
* ``gemm``: golden GEMMs at M=16, K=N=4096 — bit-exact against the plain reference and timed
  against a numpy float32 matmul of the same shape in the same run; goal ≥ 0.25× its speed.
  Other formats add a case to :data:`GEMM_CASES` (name → function returning
  ``(format, x_encoded, w_encoded, reference_gemm)``); :func:`gemm_case` does the rest.
* ``olive_w4a4_perplexity``: ``tapeout accuracy smollm2-135m --format olive-w4a4`` over 4096
  tokens, wall time end to end (model load, weight encoding, calibration); goal < 180 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numba
import numpy as np

from sim.formats.base import Encoded, Role

M, K, N = 16, 4096, 4096


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm-up (numba compilation, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _operands(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Heavy-tailed activations [M, K] and weights [N, K] (Student t, 3 degrees of freedom)."""
    rng = np.random.default_rng(seed)
    return ((rng.standard_t(3, (M, K)) * 0.5).astype(np.float32),
            (rng.standard_t(3, (N, K)) * 0.02).astype(np.float32))


def ovp4_encode() -> dict:
    from sim.formats.ovp import INT4, encode_scaled

    x = np.random.default_rng(1).standard_t(3, (2048, 8192)).astype(np.float32)
    scales = np.array([0.25], np.float32)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        seconds = _best(lambda: encode_scaled(x, scales, INT4), repeat=3)
    finally:
        numba.set_num_threads(threads)
    rate = x.size / seconds
    return {"values": x.size, "seconds": seconds, "values_per_second": rate,
            "goal_values_per_second": 50e6, "meets_goal": rate >= 50e6, "threads": 1}


def _olive_case():
    from sim.formats.ovp import OLIVE_W4A4, gemm_reference

    x, w = _operands()
    return (OLIVE_W4A4, OLIVE_W4A4.encode(x, Role.ACTIVATION), OLIVE_W4A4.encode(w, Role.WEIGHT),
            gemm_reference)


GEMM_CASES: dict[str, Callable[[], tuple[object, Encoded, Encoded, Callable]]] = {
    "olive-w4a4": _olive_case,
}
"""Golden GEMM cases at M=16, K=N=4096; MixPE W4A8 and N:M register theirs here."""


def gemm_case(fmt, x: Encoded, w: Encoded, reference: Callable[[Encoded, Encoded], np.ndarray]
              ) -> dict:
    """Bit-exactness against ``reference`` and speed relative to numpy float32 (same shape)."""
    y = fmt.gemm(x, w)
    exact = bool(np.array_equal(y, reference(x, w)))
    xf, wf = _operands()
    numpy_s = _best(lambda: xf[: x.shape[0]] @ wf[: w.shape[0]].T)
    golden_s = _best(lambda: fmt.gemm(x, w))
    return {"shape": [x.shape[0], x.shape[1], w.shape[0]], "bit_exact": exact,
            "golden_seconds": golden_s, "numpy_f32_seconds": numpy_s,
            "speed_vs_numpy_f32": numpy_s / golden_s, "goal": 0.25,
            "meets_goal": exact and numpy_s / golden_s >= 0.25,
            "numba_threads": numba.get_num_threads()}


def olive_perplexity(tokens: int = 4096) -> dict:
    from tapeout.accuracy import evaluate

    start = time.perf_counter()
    result = evaluate("smollm2-135m", "olive-w4a4", tokens=tokens)
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "perplexity": result["perplexity"], "wall_seconds": seconds,
            "goal_seconds": 180, "meets_goal": seconds < 180}


def run() -> dict:
    return {"ovp4_encode": ovp4_encode(),
            "gemm": {name: gemm_case(*case()) for name, case in GEMM_CASES.items()},
            "olive_w4a4_perplexity": olive_perplexity()}
