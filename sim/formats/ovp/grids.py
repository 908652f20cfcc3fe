"""OVP types: a normal grid plus an adaptive-bias abfloat outlier grid, their codes and the
decoder's (exponent, integer) fields — the tables every other OVP module and the RTL read
(rules: :mod:`sim.formats.ovp`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.errors import UserError
from sim.formats.flint import FLINT4_EXP_INT, FLINT4_MAGNITUDES, INT4_MAGNITUDES

FRAC_BITS = 4
"""Fractional bits of the encoder's fixed-point input (units of 2^-4 normal step)."""


@dataclass(frozen=True, eq=False)
class OvpType:
    """One OVP variant: a normal grid plus an adaptive-bias abfloat outlier grid.

    ``grid``: union of normal then outlier magnitudes (normal steps, ascending);
    ``thresholds``: midpoints of ``grid`` in fixed-point units (``≥`` goes up);
    ``pos_code``/``neg_code``: the code of each grid point by sign; ``exp_int``: ``(e, i)`` of each
    grid point as the decoder emits it; ``lut_normal``/``lut_outlier``: code → signed value in
    normal steps (``i << e``) when the code is read as normal / as outlier.
    """

    name: str
    bits: int
    signed_magnitude: bool
    exp_bits: int
    man_bits: int
    bias: int
    n_normal: int
    grid: np.ndarray
    thresholds: np.ndarray
    pos_code: np.ndarray
    neg_code: np.ndarray
    exp_int: np.ndarray
    lut_normal: np.ndarray
    lut_outlier: np.ndarray

    @cached_property
    def index_table(self) -> np.ndarray:
        """Grid index of every fixed-point magnitude below min(last threshold + 1, 4096): a
        speed-up of the threshold search, identical to it by construction."""
        size = int(min(self.thresholds[-1] + 1, 4096))
        return np.searchsorted(self.thresholds, np.arange(size), side="right").astype(np.int16)

    @property
    def ident(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def normal_max(self) -> int:
        return int(self.grid[self.n_normal - 1])

    @property
    def outlier_max(self) -> int:
        return int(self.grid[-1])


def make_type(name: str, bits: int, normal: np.ndarray, normal_exp_int: np.ndarray, *,
              signed_magnitude: bool, exp_bits: int, man_bits: int) -> OvpType:
    """Build the grids and code tables of one OVP variant (see the module docstring)."""
    if 1 + exp_bits + man_bits != bits:
        raise UserError(f"OVP-{bits} outlier type needs 1 + exponent + mantissa = {bits} bits, "
                        f"got E{exp_bits}M{man_bits}")
    nmax = int(normal[-1])
    bias = 0
    while ((1 << man_bits) + 1) << bias <= nmax:  # smallest *used* outlier above the normal max
        bias += 1
    out_mag, out_code, out_ei = [], [], []
    for e in range(1 << exp_bits):
        for m in range(1 << man_bits):
            if e == 0 and m == 0:
                continue
            out_mag.append(((1 << man_bits) + m) << (e + bias))
            out_code.append(e << man_bits | m)
            out_ei.append((e + bias, (1 << man_bits) + m))
    order = np.argsort(out_mag, kind="stable")
    grid = np.concatenate([normal, np.asarray(out_mag, np.int64)[order]])
    assert (np.diff(grid) > 0).all(), "grid must be strictly increasing"
    sign = 1 << (bits - 1)
    idx = np.arange(len(normal))
    if signed_magnitude:
        n_pos, n_neg = idx, idx | sign
        n_neg = np.where(idx == 0, 0, n_neg)  # zero is always +0: −0 is the identifier
    else:
        n_pos, n_neg = normal, (-normal) & ((1 << bits) - 1)
    o = np.asarray(out_code, np.int64)[order]
    pos_code = np.concatenate([n_pos, o]).astype(np.uint8)
    neg_code = np.concatenate([n_neg, o | sign]).astype(np.uint8)
    exp_int = np.concatenate([normal_exp_int, np.asarray(out_ei, np.int64)[order]])
    thresholds = ((grid[:-1] + grid[1:]) << FRAC_BITS) // 2  # exact: FRAC_BITS ≥ 1
    lut_normal = np.zeros(1 << bits, np.int32)
    lut_outlier = np.zeros(1 << bits, np.int32)
    nn = len(normal)
    lut_normal[pos_code[:nn]] = grid[:nn]
    lut_normal[neg_code[:nn]] = -grid[:nn]
    lut_outlier[pos_code[nn:]] = grid[nn:]
    lut_outlier[neg_code[nn:]] = -grid[nn:]
    # The skipped (e, m) = (0, 0) patterns decode by their bits (never produced by the encoder).
    lut_outlier[0] = (1 << man_bits) << bias
    lut_outlier[sign] = -((1 << man_bits) << bias)
    return OvpType(name, bits, signed_magnitude, exp_bits, man_bits, bias, nn, grid, thresholds,
                   pos_code, neg_code, exp_int, lut_normal, lut_outlier)


INT4 = make_type("int4", 4, INT4_MAGNITUDES, np.stack([0 * INT4_MAGNITUDES, INT4_MAGNITUDES], 1),
                 signed_magnitude=False, exp_bits=2, man_bits=1)
FLINT4 = make_type("flint4", 4, FLINT4_MAGNITUDES, FLINT4_EXP_INT,
                   signed_magnitude=True, exp_bits=2, man_bits=1)


def int8_type(exp_bits: int = 4, man_bits: int = 3) -> OvpType:
    """OVP-8: int8 normal (±127) with an E{exp_bits}M{man_bits} abfloat outlier (default E4M3,
    papers/olive.md "8-bit encoding", our decision; the public code's E2M5 is ``int8_type(2, 5)``)."""
    mags = np.arange(128, dtype=np.int64)
    return make_type(f"int8-e{exp_bits}m{man_bits}", 8, mags, np.stack([0 * mags, mags], 1),
                     signed_magnitude=False, exp_bits=exp_bits, man_bits=man_bits)


INT8_E4M3 = int8_type()
TYPES = {t.name: t for t in (INT4, FLINT4, INT8_E4M3)}
