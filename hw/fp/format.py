"""IEEE 754 binary formats and the golden model of the :mod:`hw.fp` units (numpy, bit patterns).

A format is ``1 + exp_bits + man_bits`` bits: sign (top bit), biased exponent field, fraction
field (``man_bits``, the hidden bit not stored). Every golden function takes and returns
unsigned arrays of bit patterns (any integer dtype in; ``uint64`` out) and rounds to nearest,
ties to even, once:

- FP32: numpy ``float32`` arithmetic, i.e. the host's IEEE hardware (SSE/NEON; a host that
  flushes subnormals is refused, :func:`check_host`);
- FP16: the operation in ``float64``, then one rounding to ``float16``. A sum of two FP16 values
  spans at most 41 significand bits (2^15 down to 2^-24) and a product 22 bits, so the
  ``float64`` result is exact and numpy's direct ``float64 → float16`` conversion (its own
  RNE from the double's bits, not via ``float32``) is the only rounding. Through a ``float32``
  intermediate the value would be rounded twice — to 24 bits, then to 11 — and a double
  rounding can differ from the single one: the first may land exactly on a halfway point of
  the second (from below or above), which ties-to-even then resolves the wrong way. For FP16
  sums and products it happens not to (24 ≥ 2·11 + 2, the "innocuous double rounding" bound:
  Figueroa 1995; proved with underflow by Roux, J. Formalized Reasoning 2014), but the exact
  ``float64`` intermediate needs no theorem at all; ``tests/hw/test_fp_units.py`` checks the
  golden model against exact rational arithmetic.

NaN: the RTL emits one canonical quiet NaN, :attr:`FloatFormat.canonical_nan` — sign 0,
exponent all ones, only the top fraction bit set (FP32 ``0x7FC00000``, FP16 ``0x7E00``, the
RISC-V choice) — for every NaN result, whatever the operands' payloads. The golden model maps
every NaN to that pattern, so RTL and golden are compared as exact bit patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

MAX_EXACT_INT_BITS = 53
"""Widest signed integer :func:`from_int` converts: its magnitude ≤ 2^52 is exact in float64."""


@dataclass(frozen=True)
class FloatFormat:
    """An IEEE 754 binary format: ``exp_bits`` exponent bits, ``man_bits`` stored fraction bits."""

    exp_bits: int
    man_bits: int

    @property
    def width(self) -> int:
        """Bits of a pattern: sign + exponent + fraction."""
        return 1 + self.exp_bits + self.man_bits

    @property
    def precision(self) -> int:
        """Significand bits including the hidden bit (p: 24 for FP32, 11 for FP16)."""
        return self.man_bits + 1

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def exp_all_ones(self) -> int:
        """The exponent field of inf and NaN."""
        return (1 << self.exp_bits) - 1

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def sign_bit(self) -> int:
        return 1 << (self.width - 1)

    @property
    def inf(self) -> int:
        """+inf (set :attr:`sign_bit` for −inf)."""
        return self.exp_all_ones << self.man_bits

    @property
    def canonical_nan(self) -> int:
        """The only NaN the units emit: positive, quiet, payload 0."""
        return self.inf | (1 << (self.man_bits - 1))

    @property
    def max_finite(self) -> int:
        return self.inf - 1

    @property
    def min_normal(self) -> int:
        return 1 << self.man_bits

    @property
    def name(self) -> str:
        return next((n for n, f in FORMATS.items() if f == self), f"e{self.exp_bits}m{self.man_bits}")


FP32 = FloatFormat(8, 23)
FP16 = FloatFormat(5, 10)
FORMATS = {"fp32": FP32, "fp16": FP16}
"""The formats the golden model (and hence the registered units) support, by parameter name."""

_NUMPY = {FP32: (np.float32, np.uint32), FP16: (np.float16, np.uint16)}


def format_named(name: str) -> FloatFormat:
    """The format ``name`` (``fp32`` | ``fp16``); anything else is a ``ValueError``."""
    if name not in FORMATS:
        raise ValueError(f"unknown float format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[name]


def _types(fmt: FloatFormat):
    if fmt not in _NUMPY:
        raise ValueError(f"no golden model for {fmt}: only {', '.join(FORMATS)}")
    return _NUMPY[fmt]


def to_floats(fmt: FloatFormat, bits) -> np.ndarray:
    """Bit patterns → numpy floats of ``fmt`` (exactly those bits)."""
    float_t, uint_t = _types(fmt)
    return (np.asarray(bits).astype(np.uint64) & fmt.mask).astype(uint_t).view(float_t)


def to_bits(fmt: FloatFormat, values: np.ndarray) -> np.ndarray:
    """Numpy floats of ``fmt`` → ``uint64`` bit patterns, every NaN the canonical NaN."""
    float_t, uint_t = _types(fmt)
    values = np.asarray(values, dtype=float_t)
    bits = values.view(uint_t).astype(np.uint64)
    return np.where(np.isnan(values), np.uint64(fmt.canonical_nan), bits)


@cache
def check_host() -> None:
    """Refuse a host whose float32 unit flushes subnormals (FTZ/DAZ, e.g. set by a library
    built with ``-ffast-math``): the FP32 golden model is that unit."""
    tiny = np.array([1, 3], np.uint32).view(np.float32)  # the two smallest subnormals
    if (tiny[:1] + tiny[1:]).view(np.uint32)[0] != 4 or (tiny[1:] * np.float32(2)).view(np.uint32)[0] != 6:
        raise RuntimeError("this host's float32 arithmetic flushes subnormals; the FP32 golden "
                           "model needs IEEE 754 subnormals")


def _binary(fmt: FloatFormat, op, a, b) -> np.ndarray:
    x, y = to_floats(fmt, a), to_floats(fmt, b)
    with np.errstate(all="ignore"):
        if fmt == FP32:
            check_host()
            result = op(x, y)  # float32 hardware: one IEEE RNE rounding
        else:
            result = op(x.astype(np.float64), y.astype(np.float64)).astype(_types(fmt)[0])
    return to_bits(fmt, result)


def add(fmt: FloatFormat, a_bits, b_bits) -> np.ndarray:
    """``a + b`` rounded to nearest even (subtraction: flip ``b``'s sign bit first)."""
    return _binary(fmt, np.add, a_bits, b_bits)


def mul(fmt: FloatFormat, a_bits, b_bits) -> np.ndarray:
    """``a × b`` rounded to nearest even."""
    return _binary(fmt, np.multiply, a_bits, b_bits)


def from_int(fmt: FloatFormat, int_bits: int, values) -> np.ndarray:
    """Signed ``int_bits``-bit integers (values, or their two's-complement patterns) → ``fmt``,
    rounded to nearest even (exact when ``|v| < 2^precision``; beyond the range: ±inf)."""
    if not 2 <= int_bits <= MAX_EXACT_INT_BITS:
        raise ValueError(f"int_bits must be 2 to {MAX_EXACT_INT_BITS}, got {int_bits}")
    v = np.asarray(values).astype(np.int64) & ((1 << int_bits) - 1)
    v = np.where(v >= 1 << (int_bits - 1), v - (1 << int_bits), v)
    with np.errstate(all="ignore"):
        if fmt == FP32:
            check_host()
        exact = v.astype(np.float64)  # |v| ≤ 2^52: exact
        return to_bits(fmt, exact.astype(_types(fmt)[0]))  # the one rounding


def widen(src: FloatFormat, dst: FloatFormat, bits) -> np.ndarray:
    """``src`` patterns as ``dst`` patterns, exactly (``dst`` has at least ``src``'s exponent and
    fraction bits, so it holds every ``src`` value)."""
    if dst.exp_bits < src.exp_bits or dst.man_bits < src.man_bits:
        raise ValueError(f"{dst.name} does not hold every {src.name} value")
    return to_bits(dst, to_floats(src, bits).astype(_types(dst)[0]))
