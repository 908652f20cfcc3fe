"""The OliVe encoder: a pair of fixed-point values → one OVP pair of codes.

Implements :func:`sim.formats.ovp.encode_fixed` (the golden model's contract for this block):
the input is ``q = rint(x · 2^FRAC_BITS / s)``, the value in units of 2^-FRAC_BITS normal step
(int32; :func:`sim.formats.ovp.to_fixed`). Per value the grid index is the number of grid
midpoints ``≤ |q|`` (:attr:`OvpType.thresholds`: halfway goes up, beyond the top point
saturates); an index past the normal grid is an outlier; in an outlier-outlier pair the larger
``|q|`` is kept (ties: the even element) and the other becomes the victim (identifier code).
Thresholds and code tables are taken from the golden model's :class:`~sim.formats.ovp.OvpType`.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.olive.decoder import NORMAL_TYPES, normal_width
from sim.formats.ovp import OvpType

INPUT_WIDTH = 32
"""Width of each fixed-point input (signed; the golden model clamps ``|q|`` to 2^30)."""


class OvpEncoder(wiring.Component):
    """Streaming OVP encoder, one pair per cycle, latency 1 cycle.

    - ``q``: two signed ``INPUT_WIDTH``-bit fixed-point values (even element first);
    - ``normal``: index into :data:`~hw.olive.decoder.NORMAL_TYPES` ``[bits]`` (0 = int4, 1 = flint4);
    - ``valid``: ``q`` holds a pair this cycle;
    - ``code``: ``2·bits`` bits, even element's code in the low half; ``valid_out``: ``code``
      holds the pair that was presented one cycle earlier.
    """

    def __init__(self, bits: int = 4):
        if bits not in NORMAL_TYPES:
            raise ValueError(f"OVP codes are 4 or 8 bits, got {bits}")
        self.bits = bits
        self.types = NORMAL_TYPES[bits]
        super().__init__({
            "q": In(data.ArrayLayout(signed(INPUT_WIDTH), 2)),
            "normal": In(normal_width(self.bits)),
            "valid": In(1),
            "code": Out(2 * bits),
            "valid_out": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        mags = [abs(self.q[i]) for i in range(2)]
        negs = [self.q[i] < 0 for i in range(2)]
        encoded = [[_encode_value(t, mags[i], negs[i]) for i in range(2)] for t in self.types]
        (ca, oa), (cb, ob) = encoded[0]
        for index, ((tca, toa), (tcb, tob)) in enumerate(encoded[1:], start=1):
            chosen = self.normal == index
            ca, oa, cb, ob = (Mux(chosen, tca, ca), Mux(chosen, toa, oa),
                              Mux(chosen, tcb, cb), Mux(chosen, tob, ob))
        keep_even = mags[0] >= mags[1]
        victim_even = ob & (~oa | ~keep_even)
        victim_odd = oa & (~ob | keep_even)
        ident = Const(1 << (self.bits - 1), self.bits)
        m.d.sync += [
            self.code[:self.bits].eq(Mux(victim_even, ident, ca)),
            self.code[self.bits:].eq(Mux(victim_odd, ident, cb)),
            self.valid_out.eq(self.valid),
        ]
        return m


def _encode_value(t: OvpType, mag, neg):
    """(code, is-outlier) of one magnitude under type ``t``."""
    index = _tree_sum([mag >= int(thr) for thr in t.thresholds])
    pos = Array(Const(int(c), t.bits) for c in t.pos_code)
    neg_codes = Array(Const(int(c), t.bits) for c in t.neg_code)
    return Mux(neg, neg_codes[index], pos[index]), index >= t.n_normal


def _tree_sum(terms: list):
    """Sum of 1-bit ``terms`` as a balanced adder tree (depth log2 n, not n)."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]
