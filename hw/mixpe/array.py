"""The MixPE output-stationary array: shift-and-add PEs, group sums on the row edge, group
dequantizers on the column edge.

``rows × cols`` PEs of one kind (:class:`~hw.mixpe.pe.ShiftAddPeW4A8`, or
:class:`~hw.mixpe.pe.ShiftAddPeW4A16` for ``activation = "fp16"``); PE (i, j) computes output
``y[i, j] = Σ_G s_G[j]·(Σ_{k∈G} q[j, k]·x[i, k] − z_G[j]·Σ_{k∈G} x[i, k])`` (× the token scale
``a[i]`` for W4A8) over a tile of K elements, K a multiple of the group g, exactly as
:mod:`sim.formats.mixpe` computes it:

- row edge: each row's activation is registered, skewed by ``i`` registers and passed from PE
  to PE; its :class:`~hw.mixpe.groupsum.GroupSum` adds it into the token's group sum, once for
  all columns;
- column edge: each column's weight codes, zero points and scales are registered and skewed by
  ``j``; codes pass from PE to PE downwards;
- read-out: the cycle after a group's last element a PE holds the group's partial sum
  (``done``); row i's PEs are one cycle behind row i − 1's, so each column's read-out bus
  carries rows 0, 1, …, rows − 1 on consecutive cycles (one PE drives it at a time, hence
  ``rows ≤ group``). The row edge's group sums and token scales take the same schedule on a
  bus along the bottom, one register per column;
- each column's :class:`~hw.mixpe.dequant.GroupDequant` folds the partial sum into the output's
  FP32 accumulator (``result_<j>``), with the zero point and scale latched from the group's last
  element; after the tile's last group the W4A8 build multiplies by the token scale.

Tile protocol (:func:`hw.drivers.tiles`): one tile in flight — a tile starts after the previous
tile's ``done`` — with one element per cycle, ``valid``, ``first`` on the tile's first element
and ``last`` on its last; ``zero`` / ``scale`` are sampled on each group's last element and
``token_scale`` on the tile's last. ``done`` pulses for one cycle when the results hold the tile:
:func:`sim.mixpe.tile.mixpe_array_tile_cycles` = ``K + rows + cols`` cycles after the first
element is presented (that cycle counted). ``result_<j>`` keep the tile until the next
tile's first group is dequantized.
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth import Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.fp.format import FP16, FP32
from hw.fp.multiplier import FloatMultiplier
from hw.mixpe.dequant import GroupDequant
from hw.mixpe.groupsum import GroupSum
from hw.mixpe.pe import ShiftAddPeW4A8, ShiftAddPeW4A16
from hw.pipeline import delay
from sim.formats.mixpe import A_BITS, W_BITS, ZERO_BITS
from sim.mixpe.design import array_problem


def _bus(sources) -> Value:
    """An AND-OR bus: the value of whichever ``(select, value)`` source is selected this cycle
    (at most one is), 0 when none is."""
    return reduce(operator.or_, (Mux(select, value, 0) for select, value in sources))


class MixPeArray(wiring.Component):
    """Output-stationary MixPE array (see the module docstring).

    - ``x``: one activation per row (INT8, or FP16 bits);
    - ``q``, ``zero``, ``scale``: per column, the weight code (0..15), the group's zero point
      (0..15) and scale (FP16 bits);
    - ``token_scale`` (W4A8 only): per row, the token's FP32 activation scale, sampled with the
      tile's last element;
    - ``valid``, ``first``, ``last``: the tile protocol;
    - ``result_<j>``: FP32 bits of column j's outputs, row i in lane i (one port per column:
      a 64 × 64 array's outputs would not fit one signal);
    - ``done``: pulses when the results have just been completed.
    """

    def __init__(self, rows: int, cols: int, *, activation: str = "int8", group: int = 128,
                 partial_sum_bits: int = 19, group_sum_bits: int = 15):
        problem = array_problem(rows, cols, group)
        if problem:
            raise ValueError(problem)
        if activation not in ("int8", "fp16"):
            raise ValueError(f"activation must be int8 or fp16, got {activation!r}")
        self.rows, self.cols, self.group = rows, cols, group
        self.activation = activation
        self.partial_sum_bits, self.group_sum_bits = partial_sum_bits, group_sum_bits
        x = signed(A_BITS) if activation == "int8" else FP16.width
        ports = {"x": In(data.ArrayLayout(x, rows)), "q": In(data.ArrayLayout(W_BITS, cols)),
                 "zero": In(data.ArrayLayout(ZERO_BITS, cols)),
                 "scale": In(data.ArrayLayout(FP16.width, cols)),
                 "valid": In(1), "first": In(1), "last": In(1),
                 "done": Out(1)}
        ports |= {f"result_{j}": Out(data.ArrayLayout(FP32.width, rows)) for j in range(cols)}
        if activation == "int8":
            ports["token_scale"] = In(data.ArrayLayout(FP32.width, rows))
        super().__init__(ports)

    def _pe(self):
        if self.activation == "int8":
            return ShiftAddPeW4A8(self.partial_sum_bits)
        return ShiftAddPeW4A16()

    def elaborate(self, platform):
        m = Module()
        rows, cols, w4a8 = self.rows, self.cols, self.activation == "int8"

        # group boundaries: the element index within its group, restarted by the tile's first
        count = Signal(range(self.group))
        index = Mux(self.first, 0, count)
        in_first_group = Signal()
        first_group = self.first | (in_first_group & index.any())
        with m.If(self.valid):
            m.d.sync += [count.eq(Mux(index == self.group - 1, 0, index + 1)),
                         in_first_group.eq(first_group)]
        ctrl = data.StructLayout({"valid": 1, "first": 1, "last": 1, "first_group": 1,
                                  "last_group": 1})
        ctrl_in = Signal(ctrl)
        m.d.sync += [ctrl_in.valid.eq(self.valid), ctrl_in.first.eq(~index.any()),
                     ctrl_in.last.eq(index == self.group - 1),
                     ctrl_in.first_group.eq(first_group), ctrl_in.last_group.eq(self.last)]

        # edge registers, then the skews
        x_in = Signal.like(self.x)
        col_in = Signal(data.ArrayLayout(data.StructLayout(
            {"q": W_BITS, "zero": ZERO_BITS, "scale": FP16.width}), cols))
        m.d.sync += x_in.eq(self.x)
        for j in range(cols):
            m.d.sync += [col_in[j].q.eq(self.q[j]), col_in[j].zero.eq(self.zero[j]),
                         col_in[j].scale.eq(self.scale[j])]
        row_x = [delay(m, x_in[i], i, f"skew_x{i}") for i in range(rows)]
        row_ctrl = [delay(m, ctrl_in, i, f"skew_c{i}") for i in range(rows)]
        col = [delay(m, col_in[j], j, f"skew_w{j}") for j in range(cols)]

        pes = [[self._pe() for _ in range(cols)] for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                pe = m.submodules[f"pe_{i}_{j}"] = pes[i][j]
                left = pes[i][j - 1] if j else None
                m.d.comb += [pe.x.eq(left.x_out if left else row_x[i]),
                             pe.q.eq(pes[i - 1][j].q_out if i else col[j].q)]
                for name in ("valid", "first", "last"):
                    source = getattr(left, f"{name}_out") if left else getattr(row_ctrl[i], name)
                    m.d.comb += getattr(pe, name).eq(source)

        if w4a8:  # the token scales of the tile, sampled with its last element
            token_scale = Signal.like(self.token_scale)
            with m.If(self.valid & self.last):
                m.d.sync += token_scale.eq(self.token_scale)

        # row edge: group sums, and the bottom bus carrying them on the read-out schedule
        edge = data.StructLayout({"valid": 1, "row": range(rows), "first_group": 1,
                                  "last_group": 1, "sum": self._sum_width(),
                                  "token_scale": FP32.width if w4a8 else 1})
        sources = []
        for i in range(rows):
            gs = m.submodules[f"groupsum_{i}"] = GroupSum(self.activation, self.group_sum_bits)
            c = row_ctrl[i]
            m.d.comb += [gs.x.eq(row_x[i]), gs.valid.eq(c.valid), gs.first.eq(c.first),
                         gs.last.eq(c.last)]
            flags = Signal(2, name=f"groupflags_{i}")  # the finished group's first/last_group
            with m.If(c.valid & c.last):
                m.d.sync += flags.eq(Cat(c.first_group, c.last_group))
            entry = Signal(edge, name=f"edge_{i}")
            m.d.comb += [entry.valid.eq(1), entry.row.eq(i), entry.first_group.eq(flags[0]),
                         entry.last_group.eq(flags[1]), entry.sum.eq(gs.sum)]
            if w4a8:
                m.d.comb += entry.token_scale.eq(token_scale[i])
            sources.append((gs.done, entry.as_value()))
        bottom = [Signal(edge, name="bottom_0")]
        m.d.comb += bottom[0].eq(_bus(sources))
        for j in range(1, cols):
            stage = Signal(edge, name=f"bottom_{j}")
            m.d.sync += stage.eq(bottom[j - 1])
            bottom.append(stage)

        # column edge: read-out bus, dequantizer, accumulators (= result)
        finished = Signal(cols)
        for j in range(cols):
            readout = _bus((pes[i][j].done, pes[i][j].p) for i in range(rows))
            params = Signal.like(col_in[j], name=f"group_params_{j}")
            with m.If(pes[0][j].valid & pes[0][j].last):
                m.d.sync += params.eq(col[j])
            dq = m.submodules[f"dequant_{j}"] = GroupDequant(
                self.activation, self.partial_sum_bits, self.group_sum_bits)
            b = bottom[j]
            accs = [getattr(self, f"result_{j}")[i] for i in range(rows)]
            acc = Signal(FP32.width, name=f"acc_{j}")
            with m.Switch(b.row):
                for i in range(rows):
                    with m.Case(i):
                        m.d.comb += acc.eq(accs[i])
            m.d.comb += [dq.p.eq(readout), dq.sum.eq(b.sum), dq.zero.eq(params.zero),
                         dq.scale.eq(params.scale), dq.acc.eq(acc), dq.first.eq(b.first_group)]
            value = dq.result
            if w4a8:
                scale = m.submodules[f"token_scale_{j}"] = FloatMultiplier(FP32)
                m.d.comb += [scale.a.eq(dq.result), scale.b.eq(b.token_scale)]
                value = Mux(b.last_group, scale.product, dq.result)
            with m.If(b.valid):
                with m.Switch(b.row):
                    for i in range(rows):
                        with m.Case(i):
                            m.d.sync += accs[i].eq(value)
            m.d.comb += finished[j].eq(b.valid & b.last_group & (b.row == rows - 1))
        m.d.sync += self.done.eq(finished[cols - 1])
        return m

    def _sum_width(self):
        return signed(self.group_sum_bits) if self.activation == "int8" else FP32.width
