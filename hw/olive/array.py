"""The OliVe output-stationary systolic array with OVP decoders on its edges only.

``rows × cols`` :class:`~hw.olive.pe.OvpPe` s; ``rows + cols`` :class:`~hw.olive.decoder.OvpDecoder` s
(one per row for activations, one per column for weights — papers/olive.md "Hardware").
PE (i, j) accumulates ``C[i, j] = Σ_k A[i, k] · W[j, k]`` one OVP pair per cycle.

Timing (cycles, see :func:`sim.olive.tile.ovp_array_tile_cycles`): a tile of K elements is
streamed as ``P = ceil(K / 2)`` pairs on consecutive cycles, every row and column presented
together; decoders are followed by one register, rows are skewed by ``i`` and columns by ``j``
registers, operands hop one PE per cycle, and each PE copies its sum into ``result`` the cycle
after its last pair. ``done`` pulses when all of ``result`` belongs to the tile:
``P + rows + cols`` cycles after the first pair is presented (that cycle counted).
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.olive.decoder import NORMAL_TYPES, OvpDecoder, normal_width, pair_layout, value_widths
from hw.olive.pe import OvpPe


def accumulator_width(bits: int) -> int:
    """int32 for OVP-4, int64 for OVP-8 (E4M3 outlier products reach 2^46;
    :func:`sim.formats.ovp.accumulator_bits`)."""
    return 32 if bits == 4 else 64


class OvpSystolicArray(wiring.Component):
    """Output-stationary OVP array.

    - ``a_code``: one OVP pair of codes per row (``2·bits`` bits each), activation rows;
    - ``w_code``: one OVP pair of codes per column, weight rows (output channels);
    - ``a_normal``, ``w_normal``: normal type of each operand (index into ``NORMAL_TYPES[bits]``);
    - ``valid``: the codes hold a pair this cycle; ``first`` / ``last``: first / last pair of a
      tile (``first`` restarts the sums);
    - ``result``: ``rows·cols`` signed sums (row-major, ``accumulator_width(bits)`` bits each,
      wrapping) of the most recent finished tile; ``done``: pulses for one cycle when ``result``
      has just been completed.
    """

    def __init__(self, rows: int, cols: int, bits: int = 4):
        if rows < 1 or cols < 1:
            raise ValueError(f"array needs at least 1 × 1 PEs, got {rows} × {cols}")
        if bits not in NORMAL_TYPES:
            raise ValueError(f"OVP codes are 4 or 8 bits, got {bits}")
        self.rows, self.cols, self.bits = rows, cols, bits
        self.acc_width = accumulator_width(bits)
        super().__init__({
            "a_code": In(data.ArrayLayout(2 * bits, rows)),
            "w_code": In(data.ArrayLayout(2 * bits, cols)),
            "a_normal": In(normal_width(bits)), "w_normal": In(normal_width(bits)),
            "valid": In(1), "first": In(1), "last": In(1),
            "result": Out(data.ArrayLayout(signed(self.acc_width), rows * cols)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        exp_w, int_w = value_widths(self.bits)
        pair = pair_layout(self.bits)

        def decoded(name: str, code, normal):
            dec = OvpDecoder(self.bits)
            m.submodules[name] = dec
            m.d.comb += [dec.code.eq(code), dec.normal.eq(normal)]
            reg = Signal(pair, name=f"{name}_q")
            m.d.sync += reg.eq(dec.value)
            return reg

        def delayed(value, cycles: int, name: str):
            for stage in range(cycles):
                reg = Signal.like(value, name=f"{name}_d{stage}")
                m.d.sync += reg.eq(value)
                value = reg
            return value

        ctrl = data.StructLayout({"valid": 1, "first": 1, "last": 1})
        ctrl_in = Signal(ctrl)
        m.d.sync += [ctrl_in.valid.eq(self.valid), ctrl_in.first.eq(self.first),
                     ctrl_in.last.eq(self.last)]
        a_edge = [delayed(decoded(f"dec_a{i}", self.a_code[i], self.a_normal), i, f"skew_a{i}")
                  for i in range(self.rows)]
        w_edge = [delayed(decoded(f"dec_w{j}", self.w_code[j], self.w_normal), j, f"skew_w{j}")
                  for j in range(self.cols)]
        row_ctrl = [delayed(ctrl_in, i, f"skew_c{i}") for i in range(self.rows)]

        pes = [[OvpPe(exp_width=exp_w, int_width=int_w, acc_width=self.acc_width)
                for _ in range(self.cols)] for _ in range(self.rows)]
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
                ]
                if j:
                    last = delayed(last, 1, f"last_{i}_{j}")
                # the PE's sum is final the cycle after it took the last pair
                final = delayed(last & pe.valid, 1, f"final_{i}_{j}")
                with m.If(final):
                    m.d.sync += self.result[i * self.cols + j].eq(pe.acc)
                if i == self.rows - 1 and j == self.cols - 1:
                    m.d.sync += self.done.eq(final)
        return m
