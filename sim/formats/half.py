"""FP16 activations as stored codes: the activation side of ``mixpe-w4a16`` and GOBO.

Encoding rounds float32 to FP16 (round to nearest even). Magnitudes above the FP16 maximum
(65504) saturate to ±65504 instead of becoming inf — our rule, so no activation reaching a PE is
ever infinite; the count is kept in ``meta["saturated"]``. FP16 subnormals are kept (gradual
underflow, as IEEE). Codes are the uint16 bit patterns; storage 16 bits per element, no scales.
"""

from __future__ import annotations

import numpy as np

from sim.formats.base import Encoded, Role, check_finite, pad_k

FP16_MAX = float(np.finfo(np.float16).max)
BITS = 16


def encode(x: np.ndarray, *, name: str, fmt: str, multiple: int = 1) -> Encoded:
    """``x [tokens, K]`` → FP16 bit patterns, K zero-padded to ``multiple``."""
    x = check_finite(x, name)
    x, pad = pad_k(x, multiple)
    saturated = int((np.abs(x) > FP16_MAX).sum())
    h = np.clip(x, -FP16_MAX, FP16_MAX).astype(np.float16)
    return Encoded(fmt, Role.ACTIVATION, (x.shape[0], x.shape[1] - pad), h.view(np.uint16),
                   np.zeros(0, np.float32), h.size * BITS, pad, {"saturated": saturated})


def values(enc: Encoded) -> np.ndarray:
    """The FP16 values widened (exactly) to float32 ``[tokens, K_padded]``, padding kept."""
    return enc.codes.view(np.float16).astype(np.float32)


def decode(enc: Encoded) -> np.ndarray:
    """float32 ``[tokens, K]``, padding removed."""
    return values(enc)[:, : enc.shape[1]]
