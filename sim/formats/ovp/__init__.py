"""OliVe outlier-victim pair (OVP) encoding: grids, encoder, decoder and exact integer GEMM.

The one place for OVP-4 and OVP-8 (papers/olive.md); the fake-quant hook, the cycle models and
the RTL benches (hw/olive/) all import this package. One module per concern: :mod:`.grids`
(types, grids, codes), :mod:`.encoder`, :mod:`.calibration`, :mod:`.gemm` (decoder and GEMM),
:mod:`.reference` (slow numpy references), :mod:`.format` (the ``olive-*`` formats); the names
below are re-exported here.

Layout. Tensors are ``[rows, K]`` (weights ``[N, K]``, activations ``[tokens, K]``); values are
paired along K: (2p, 2p+1) — papers/olive.md "4-bit encoding" (we always pair along K). K is
padded with zeros to an even length (``Encoded.padded``). ``codes`` holds one code per element
(uint8, ``bits`` significant bits); in memory the pair is one byte (OVP-4: even element in the low
nibble) or two bytes (OVP-8, even element first).

Codes (``b`` = 4 or 8 bits; ``IDENT = 1 << (b-1)``, i.e. ``1000`` / ``0x80``):

* normal int: two's complement of ``v``, ``|v| ≤ 2^(b-1) − 1`` (15 / 255 levels) — ``IDENT`` is
  ``−2^(b-1)``, never a normal value;
* normal flint4: sign-magnitude ``s << 3 | idx`` over :data:`~sim.formats.flint.FLINT4_MAGNITUDES`;
  ``IDENT`` would be −0, never produced (zero is always encoded ``0000``);
* outlier "abfloat" EeMm: ``s << (b-1) | e << m_bits | m`` with magnitude
  ``(2^M + m) << (e + bias)`` normal steps; ``(e, m) = (0, 0)`` is skipped in both signs because
  its negative pattern is ``IDENT`` (papers/olive.md; the decoder still reads those patterns by
  their bits, the encoder never produces them). Adaptive bias: the smallest ``bias`` with
  ``(2^M + 1) << bias`` (the smallest used outlier) > normal maximum, so the outlier range starts
  just above the normal grid:
  int4 → 2 ({12, 16, 24, 32, 48, 64, 96}), flint4 → 3 ({24 … 192}), int8/E4M3 → 4 ({144 … 15·2^19});
* victim: ``IDENT`` in the slot beside an outlier.

Decoder (hardware semantics, :func:`decode_fields`): per pair, if the even code is ``IDENT`` the
even value is the victim ``<0, 0>`` and the odd code is an outlier; else if the odd code is
``IDENT`` the odd value is the victim and the even code an outlier; else both are normal. It emits
``<exponent, integer>`` per value, value = ``integer << exponent`` normal steps:
normal int → ``<0, v>``; normal flint4 → :data:`~sim.formats.flint.FLINT4_EXP_INT` with sign;
victim → ``<0, 0>``; outlier → ``<e + bias, ±(2^M + m)>``. Widths: OVP-4 exponent 0..6 (3 bits),
integer −7..7 (4-bit signed); OVP-8 (E4M3) exponent 0..19 (5 bits), integer −127..127 (8 bits).

GEMM (:meth:`OliveFormat.gemm`, reference :func:`gemm_reference`): ``acc[m, n] = Σ_k (ix·iw) << (ex + ew)`` in a two's complement accumulator
of :func:`accumulator_bits` bits — int32 for OVP-4 (no overflow is *proved* for the given K
by :func:`accumulator_bound`, else :class:`UserError`), int64 for OVP-8 (E4M3 outlier products
reach 2^46) — then ``y = float32(float64(acc) · float64(sx) · float64(sw))``.

Encoder input (:func:`encode_fixed`, the RTL encoder's contract): int32 fixed point
``q = rint_half_even(x · (2^FRAC_BITS / s))`` (float64 arithmetic, ``s`` the float32 scale =
one normal step, magnitude clamped to 2^30 so it fits int32), i.e. value in units of 1/16
normal step; every grid midpoint is then an integer, so the decisions below are exact. Each
magnitude goes to the nearest point of the union of normal and outlier grids; a magnitude exactly
halfway goes to the larger point (our decision; the public code takes the later grid entry);
magnitudes above the largest outlier saturate to it. A result above the normal maximum is an
outlier. Outlier-outlier pairs keep the larger input magnitude ``|q|``, ties the even index
(papers/olive.md, our decision); the other becomes the victim. Always signed, identifier always
reserved (papers/olive.md, our decision).

Calibration (:func:`search_scales`, papers/olive.md "Scale selection"): ``base = max(|μ ± 3σ|)``,
``α = base · i / 100`` for i = 75, 77, …, 249; α is the normal maximum, so the step is
``s = float32(α / normal_max)``; keep the α with least squared error after OVP encoding (victims
included; ties → smaller i). Per output row for weights, per tensor for activations (static after
calibration). OVP-4 picks int4 or flint4 per tensor by total squared error (ties → int4).
"""

from sim.formats.ovp.calibration import ALPHA_PERCENT, search_scales, sweep, three_sigma_base
from sim.formats.ovp.encoder import encode_fixed, encode_scaled, to_fixed
from sim.formats.ovp.format import OLIVE_W4A4, OLIVE_W8A8, PAIR_KINDS, OliveFormat
from sim.formats.ovp.gemm import (
    accumulator_bits,
    accumulator_bound,
    decode_fields,
    expand,
    integer_gemm,
)
from sim.formats.ovp.grids import (
    FLINT4,
    FRAC_BITS,
    INT4,
    INT8_E4M3,
    TYPES,
    OvpType,
    int8_type,
    make_type,
)
from sim.formats.ovp.reference import encode_fixed_reference, gemm_reference

__all__ = [
    "ALPHA_PERCENT", "FLINT4", "FRAC_BITS", "INT4", "INT8_E4M3", "OLIVE_W4A4", "OLIVE_W8A8",
    "PAIR_KINDS", "TYPES", "OliveFormat", "OvpType", "accumulator_bits", "accumulator_bound",
    "decode_fields", "encode_fixed", "encode_fixed_reference", "encode_scaled", "expand",
    "gemm_reference", "int8_type", "integer_gemm", "make_type", "search_scales", "sweep", "three_sigma_base",
    "to_fixed",
]
