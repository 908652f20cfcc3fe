"""The OliVe output-stationary systolic array with OVP decoders on its edges only.

``rows × cols`` fusable :class:`~hw.olive.pe.OvpPe` s with two modes, chosen per tile by ``mode8``
(papers/olive.md "Hardware"):

- 4-bit mode: OVP-4; PE (i, j) accumulates ``C[i, j] = Σ_k A[i, k] · W[j, k]`` in int32, one OVP
  pair per cycle; one OVP-4 :class:`~hw.olive.decoder.OvpDecoder` per row (activations) and per
  column (weights), ``rows + cols`` in all.
- 8-bit mode: OVP-8; each 2 × 2 group of PEs forms one 8-bit operation through its
  :class:`~hw.olive.fuse.OvpFuseUnit` (the extra adder), so the array computes
  ``(rows/2) × (cols/2)`` outputs in int64. One OVP-8 decoder per row pair and per column pair
  (``(rows + cols) / 2``) splits each value into nibbles: rows ``2g`` and ``2g + 1`` carry the low
  and high nibbles of activation row ``g`` (columns likewise for weights).

Timing (cycles, see :func:`sim.olive.tile.ovp_array_tile_cycles`, the same in both modes): a tile
of K elements is streamed as ``P = ceil(K / 2)`` pairs on consecutive cycles, every row and column
presented together; decoders are followed by one register, rows are skewed by ``i`` and columns
by ``j`` registers, operands hop one PE per cycle, and each sum is copied into ``result`` the
cycle after its last pair. ``done`` pulses when all of ``result`` belongs to the tile:
``P + rows + cols`` cycles after the first pair is presented (that cycle counted).
"""

from __future__ import annotations

import numpy as np
from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.olive.decoder import OvpDecoder, normal_width, value_widths
from hw.olive.fuse import NIBBLE, OvpFuseUnit
from hw.olive.pe import OvpPe, ovp_pair_layout
from hw.pipeline import delay
from sim.olive.design import accumulator_problem, array_problem

WORD = 32
"""Default accumulator bits of one PE (OVP-4 sums are int32, papers/olive.md); an array takes
the target's ``compute.accumulator_bits`` (:data:`sim.olive.design.ACCUMULATOR_BITS`)."""
EXP_WIDTH, INT_WIDTH = value_widths(8)[0], NIBBLE + 1
"""Operand fields carried through the PEs: OVP-8 exponents (0..19) and nibble-sized signed
integers (OVP-4 integers −7..7, OVP-8 nibbles −8..15)."""


def accumulator_width(bits: int, word: int = WORD) -> int:
    """Accumulator bits of one output on PEs of ``word`` bits: one word for OVP-4, two PE
    registers for OVP-8 (E4M3 outlier products reach 2^46; :func:`sim.formats.ovp.accumulator_bits`)."""
    return word if bits == 4 else 2 * word


def output_words(words: np.ndarray, bits: int) -> np.ndarray:
    """The ``result`` words ``[..., rows, cols]`` (each PE's word, unsigned) that hold outputs:
    4-bit mode every word; 8-bit mode the word pairs at even rows, ``[..., rows/2, cols/2, 2]``
    (low word in the even column, high word in the odd one)."""
    words = np.asarray(words, np.int64)
    if bits == 4:
        return words
    return np.stack([words[..., ::2, 0::2], words[..., ::2, 1::2]], -1)


def expected_words(sums: np.ndarray, bits: int, word: int = WORD) -> np.ndarray:
    """The words :func:`output_words` must read for the exact sums ``sums`` (int64): each sum in
    two's complement over one ``word``-bit word (4-bit mode) or two (8-bit mode: low, high), so
    RTL and golden model agree on every bit of the PE registers."""
    sums, mask = np.asarray(sums, np.int64), (1 << word) - 1
    if bits == 4:
        return sums & mask
    return np.stack([sums & mask, (sums >> word) & mask], -1)  # >> keeps the sign: high sign-extends


class OvpSystolicArray(wiring.Component):
    """Output-stationary OVP array, ``rows`` and ``cols`` even.

    - ``a_code``: one byte per row. 4-bit mode: the row's OVP-4 pair (even code low nibble);
      8-bit mode: row ``2g`` holds the even and row ``2g + 1`` the odd OVP-8 code of activation
      row ``g``'s pair;
    - ``w_code``: the same per column, for weight rows (output channels);
    - ``a_normal``, ``w_normal``: OVP-4 normal type (index into ``NORMAL_TYPES[4]``);
    - ``mode8``: 8-bit mode; hold it from a tile's first pair until its ``done``;
    - ``valid``: the codes hold a pair this cycle; ``first`` / ``last``: first / last pair of a
      tile (``first`` restarts the sums);
    - ``result``: one signed ``word``-bit word per PE (row-major, wrapping): the sums of the most
      recent finished tile. 8-bit mode: output ``(g, h)`` is the ``2·word``-bit word pair at row
      ``2g``, columns ``2h`` (low) and ``2h + 1`` (high); odd rows are not written;
    - ``done``: pulses for one cycle when ``result`` has just been completed.
    """

    def __init__(self, rows: int, cols: int, word: int = WORD):
        problem = array_problem(rows, cols) or accumulator_problem(word)
        if problem:
            raise ValueError(problem)
        self.rows, self.cols, self.word = rows, cols, word
        super().__init__({
            "a_code": In(data.ArrayLayout(8, rows)), "w_code": In(data.ArrayLayout(8, cols)),
            "a_normal": In(normal_width(4)), "w_normal": In(normal_width(4)), "mode8": In(1),
            "valid": In(1), "first": In(1), "last": In(1),
            "result": Out(data.ArrayLayout(signed(word), rows * cols)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        operand = ovp_pair_layout(EXP_WIDTH, INT_WIDTH)

        def edge(name: str, codes, normal, count: int) -> list:
            """Decoded, registered operands of every row (or column) of one edge."""
            out = []
            for g in range(count // 2):
                dec8 = m.submodules[f"dec8_{name}{g}"] = OvpDecoder(8)
                m.d.comb += dec8.code.eq(Cat(codes[2 * g], codes[2 * g + 1]))
                for nibble in range(2):
                    index = 2 * g + nibble
                    dec4 = m.submodules[f"dec_{name}{index}"] = OvpDecoder(4)
                    m.d.comb += [dec4.code.eq(codes[index]), dec4.normal.eq(normal)]
                    reg = Signal(operand, name=f"dec_{name}{index}_q")
                    for lane in range(2):
                        v8, v4 = dec8.value[lane], dec4.value[lane]
                        part = v8.int[NIBBLE:].as_signed() if nibble else v8.int.as_unsigned()[:NIBBLE]
                        m.d.sync += [reg[lane].exp.eq(Mux(self.mode8, v8.exp, v4.exp)),
                                     reg[lane].int.eq(Mux(self.mode8, part, v4.int))]
                    out.append(reg)
            return out

        ctrl = data.StructLayout({"valid": 1, "first": 1, "last": 1})
        ctrl_in = Signal(ctrl)
        m.d.sync += [ctrl_in.valid.eq(self.valid), ctrl_in.first.eq(self.first),
                     ctrl_in.last.eq(self.last)]
        a_edge = [delay(m, v, i, f"skew_a{i}") for i, v in enumerate(edge("a", self.a_code, self.a_normal, self.rows))]
        w_edge = [delay(m, v, j, f"skew_w{j}") for j, v in enumerate(edge("w", self.w_code, self.w_normal, self.cols))]
        row_ctrl = [delay(m, ctrl_in, i, f"skew_c{i}") for i in range(self.rows)]

        pes = [[OvpPe(exp_width=EXP_WIDTH, int_width=INT_WIDTH, acc_width=self.word,
                      shift_exp_width=value_widths(4)[0], fusable=True)
                for _ in range(self.cols)] for _ in range(self.rows)]
        final = [[None] * self.cols for _ in range(self.rows)]
        for i in range(self.rows):
            last = row_ctrl[i].last
            for j in range(self.cols):
                pe = pes[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                left = pes[i][j - 1] if j else None
                m.d.comb += [
                    pe.a.eq(left.a_out if left else a_edge[i]),
                    pe.valid.eq(left.valid_out if left else row_ctrl[i].valid),
                    pe.clear.eq(left.clear_out if left else row_ctrl[i].first),
                    pe.b.eq(pes[i - 1][j].b_out if i else w_edge[j]),
                    pe.fused.eq(self.mode8),
                ]
                if j:
                    last = delay(m, last, 1, f"last_{i}_{j}")
                # the PE's sum is final the cycle after it took the last pair
                final[i][j] = delay(m, last & pe.valid, 1, f"final_{i}_{j}")

        for g in range(self.rows // 2):
            for h in range(self.cols // 2):
                group = [[pes[2 * g + r][2 * h + c] for c in range(2)] for r in range(2)]
                fuse = m.submodules[f"fuse_{g}_{h}"] = OvpFuseUnit(
                    product_width=2 * INT_WIDTH, exp_width=EXP_WIDTH, word_width=self.word)
                corner = group[1][1]
                m.d.comb += [fuse.p00.eq(group[0][0].product), fuse.p01.eq(group[0][1].product),
                             fuse.p10.eq(group[1][0].product), fuse.p11.eq(corner.product),
                             fuse.valid.eq(corner.valid & self.mode8), fuse.clear.eq(corner.clear),
                             fuse.acc_lo.eq(group[0][0].acc), fuse.acc_hi.eq(group[0][1].acc)]
                m.d.comb += [fuse.a_exp[lane].eq(corner.a[lane].exp) for lane in range(2)]
                m.d.comb += [fuse.w_exp[lane].eq(corner.b[lane].exp) for lane in range(2)]
                for c, word in enumerate((fuse.sum_lo, fuse.sum_hi)):
                    m.d.comb += [group[0][c].load.eq(fuse.load), group[0][c].load_value.eq(word)]
                # 8-bit mode: the group's sum is final when PE (1, 1)'s is
                for r in range(2):
                    for c in range(2):
                        i, j = 2 * g + r, 2 * h + c
                        copy = Mux(self.mode8, final[2 * g + 1][2 * h + 1] if r == 0 else 0, final[i][j])
                        with m.If(copy):
                            m.d.sync += self.result[i * self.cols + j].eq(pes[i][j].acc)
        m.d.sync += self.done.eq(final[self.rows - 1][self.cols - 1])
        return m
