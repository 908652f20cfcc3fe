"""The 4-bit grids shared by OVP-4 (:mod:`sim.formats.ovp`) and ANT (:mod:`sim.formats.ant`).

All grids are *magnitudes in normal steps* (integers); a value is ``sign · magnitude · scale``.
Codes are 4-bit sign-magnitude for flint4 and power-of-two (``sign << 3 | index``; the pattern
``1000`` — negative zero — is never produced, which is what lets OVP use it as the identifier),
two's complement for int4 (``-8`` = ``1000`` is never produced: 15 levels).

Decomposition for exponent-shift hardware (papers/olive.md, "Hardware"): each magnitude is
``integer << exponent`` with ``integer ≤ 4`` for flint4, so an int4 multiplier suffices.
"""

from __future__ import annotations

import numpy as np

INT4_MAGNITUDES = np.arange(8, dtype=np.int64)
"""int4 with 15 levels: ±0..7 (papers/olive.md, "4-bit encoding")."""

FLINT4_MAGNITUDES = np.array([0, 1, 2, 3, 4, 6, 8, 16], dtype=np.int64)
"""ANT's float-int (flint4) magnitudes, index 0..7 (papers/olive.md, "4-bit encoding")."""

FLINT4_EXP_INT = np.array([(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 3), (2, 2), (3, 2)],
                          dtype=np.int64)
"""flint4 index → (exponent, integer) with ``integer << exponent == FLINT4_MAGNITUDES[index]``."""

POT4_MAGNITUDES = np.array([0, 1, 2, 4, 8, 16, 32, 64], dtype=np.int64)
"""Power-of-two 4-bit magnitudes (ANT's PoT type): 0 and 2^0..2^6, index 0..7."""

assert (FLINT4_EXP_INT[:, 1] << FLINT4_EXP_INT[:, 0] == FLINT4_MAGNITUDES).all()
