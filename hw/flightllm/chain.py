"""The configurable sparse DSP chain (papers/flightllm.md): ``DspGroup``, the
``OverflowAdjustUnit``, the ``ReductionNode`` and ``CsdChain``, a chain of L DSP48E2 slices
with N of N:16 and the weight width chosen at run time.

Dataflow (rules in :mod:`sim.flightllm.design`). One block of 16 input channels enters per
cycle: the two tokens' activations (``x``) and, per slice i, one kept weight code and its index
in the block (``w``, ``index``). Slice i belongs to segment ``i // N`` (output row ``i // N``)
and takes that row's kept weight ``i mod N`` of the block. Its :class:`SparseMux` picks the
token pair the index names; the pair (packed into A) and the code (B) are delayed ``i`` cycles
so that slice i adds its product to slice i − 1's P of the same block (the P cascade). Slice i
restarts the cascade (Z-MUX zero) where a segment starts, ``i mod N = 0``.

At each DSP group's end a :class:`ReductionNode` splits P into the two tokens' lanes and, where
a segment ends (``(2j + 2) mod N = 0``), adds the block's lane sums into the row's group sums
``P`` of the golden model, one per token; after a group's 8th block they go to the row's
:class:`~hw.flightllm.dequant.CsdChainDequant` (``dequant``) or straight to ``result``.

Between DSP groups of a chain longer than 8 slices an :class:`OverflowAdjustUnit` takes the low
lane out of the cascade — the cascade continues with ``P − sext(P[0:18])``, the high lane only,
and the low lane's value moves beside it to the next group's node (two registers, matching the
group's two slices) — so no 18-bit lane ever holds more than 2 products (our reading of the
paper's "low part continues, high part goes to the next DG's RN": the part that would overflow
leaves the 18-bit lane). Chains of ≤ 8 slices are built without it.

Run protocol (:func:`hw.drivers.tiles`): one run in flight; blocks with ``valid``, ``first``
on the run's first and ``last`` on its last; a run is whole groups of 8 blocks. ``keep`` (the N
code: index into ``(2, 4, 8, 16)``; codes with N > L are not valid) and ``int4`` (weights are
the low nibble, sign-extended) are held for the run; ``scale`` (row r's FP32 group scale in lane
r) is sampled on each group's last block, ``token_scale`` on the run's last. ``result`` lane r
holds row r's two outputs (rows ``0 … L/N − 1``) when ``done`` pulses,
:func:`sim.flightllm.tile.csd_chain_run_cycles` cycles after the first block is presented.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.flightllm.dequant import FP32_PAIR, SUM_PAIR, CsdChainDequant
from hw.flightllm.dsp import TOKEN_PAIR, Dsp48e2Slice, low_lane, pack_pair, split_lanes
from hw.flightllm.sparse_mux import SparseMux
from hw.fp.format import FP32
from hw.pipeline import delay
from sim.flightllm.design import (
    BLOCK_SUM_BITS,
    BLOCKS_PER_GROUP,
    DSP_A_BITS,
    DSP_B_BITS,
    DSP_GROUP,
    DSP_P_BITS,
    TOKENS,
    keep_choices,
    length_problem,
    needs_overflow_adjust,
)
from sim.formats.flightllm import BIT_CHOICES, BLOCK, INDEX_BITS, KEEP_CHOICES

CTRL = data.StructLayout({"valid": 1, "group_start": 1, "group_end": 1, "run_first_group": 1,
                          "run_end": 1})
"""Per-block control travelling with the cascade: the block starts / ends a group, ends the run,
belongs to the run's first group."""
KEEP_CODE_BITS = (len(KEEP_CHOICES) - 1).bit_length()
"""``keep`` port: the index of N in :data:`sim.formats.flightllm.KEEP_CHOICES`."""
W_BITS = max(BIT_CHOICES)
"""Weight code port bits per slice (INT8, or INT4 in the low nibble)."""


class DspGroup(wiring.Component):
    """Two :class:`Dsp48e2Slice` with a fixed cascade (slice 1 adds to slice 0's P).

    - ``a``, ``b``: each slice's operands (slice 1's one cycle behind slice 0's, as skewed);
    - ``pcin``, ``zero``: slice 0's cascade input and Z-MUX zero;
    - ``p``: slice 1's P, the group's PCOUT.
    """

    a: In(data.ArrayLayout(signed(DSP_A_BITS), DSP_GROUP))
    b: In(data.ArrayLayout(signed(DSP_B_BITS), DSP_GROUP))
    pcin: In(signed(DSP_P_BITS))
    zero: In(1)
    p: Out(signed(DSP_P_BITS))

    def elaborate(self, platform):
        m = Module()
        pcin, zero = self.pcin, self.zero
        for i in range(DSP_GROUP):
            dsp = m.submodules[f"dsp{i}"] = Dsp48e2Slice()
            m.d.comb += [dsp.a.eq(self.a[i]), dsp.b.eq(self.b[i]), dsp.pcin.eq(pcin),
                         dsp.zero.eq(zero)]
            pcin, zero = dsp.p, 0
        m.d.comb += self.p.eq(pcin)
        return m


class OverflowAdjustUnit(wiring.Component):
    """Between DSP groups j and j + 1: the low lane leaves the cascade.

    - ``p``: group j's PCOUT; ``side``: the segment's low-lane sum moved out so far, aligned
      with ``p``; ``restart``: a segment ends at group j (the next one starts from 0);
    - ``pcout``: ``p − sext(p[0:18])`` into group j + 1 (the high lane, exactly);
    - ``side_out``: ``side + sext(p[0:18])`` (0 on ``restart``), two registers later — aligned
      with group j + 1's PCOUT.
    """

    p: In(signed(DSP_P_BITS))
    side: In(signed(BLOCK_SUM_BITS))
    restart: In(1)
    pcout: Out(signed(DSP_P_BITS))
    side_out: Out(signed(BLOCK_SUM_BITS))

    def elaborate(self, platform):
        m = Module()
        low = low_lane(m, self.p, "oau_low")
        moved = Signal(signed(BLOCK_SUM_BITS))
        m.d.comb += [self.pcout.eq(self.p - low), moved.eq(Mux(self.restart, 0, self.side + low))]
        m.d.comb += self.side_out.eq(delay(m, moved, DSP_GROUP, "oau_side"))
        return m


class ReductionNode(wiring.Component):
    """At DSP group j's end: the lanes of P into the row's group sums.

    - ``p``: the group's PCOUT; ``side``: the low lane moved beside the cascade (0 when the
      chain has no OAU); ``emit``: a segment ends here; ``ctrl``: the block's control, and
      ``scale``: its row's group scale, both aligned with ``p``;
    - ``sum``: the two tokens' group sums (registered); ``ready``: pulses when ``sum`` holds a
      complete group, with ``first`` / ``last`` (it is the run's first / last group) and
      ``scale_out`` (the group's scale).
    """

    p: In(signed(DSP_P_BITS))
    side: In(signed(BLOCK_SUM_BITS))
    emit: In(1)
    ctrl: In(CTRL)
    scale: In(FP32.width)
    sum: Out(SUM_PAIR)
    ready: Out(1)
    first: Out(1)
    last: Out(1)
    scale_out: Out(FP32.width)

    def elaborate(self, platform):
        m = Module()
        low, high = split_lanes(m, self.p, "rn")
        lanes = (self.side + low, high)
        m.d.sync += self.ready.eq(0)
        with m.If(self.ctrl.valid & self.emit):
            m.d.sync += [self.sum[t].eq(Mux(self.ctrl.group_start, 0, self.sum[t]) + lanes[t])
                         for t in range(TOKENS)]
            with m.If(self.ctrl.group_end):
                m.d.sync += [self.ready.eq(1), self.first.eq(self.ctrl.run_first_group),
                             self.last.eq(self.ctrl.run_end), self.scale_out.eq(self.scale)]
        return m


def _by_keep(m: Module, keep, values: dict[int, int], name: str) -> Signal:
    """A 1-bit signal: ``values[N]`` for the N that ``keep`` codes (0 for invalid codes)."""
    out = Signal(name=name)
    with m.Switch(keep):
        for n, value in values.items():
            with m.Case(KEEP_CHOICES.index(n)):
                m.d.comb += out.eq(value)
    return out


class CsdChain(wiring.Component):
    """A configurable sparse DSP chain of ``length`` slices (see the module docstring).

    - ``x``: the block's 16 token pairs (INT8); ``w``, ``index``: per slice, the kept weight
      code (:data:`W_BITS`) and its position in the block;
    - ``keep``, ``int4``: N of N:16 (code) and INT4 weights, held for a run;
    - ``scale`` (``dequant``): per row, its group's FP32 weight scale; ``token_scale``: the two
      tokens' FP32 activation scales;
    - ``valid``, ``first``, ``last``: the run protocol;
    - ``result``: per row, the two tokens' outputs — FP32 bits (``dequant``), else the exact
      group sums P of the run's last group; ``done``: pulses when the run's results are written.

    ``overflow_adjust=False`` builds a long chain without its OAU (to show what it is for).
    """

    def __init__(self, length: int, *, dequant: bool = True, overflow_adjust: bool = True):
        problem = length_problem(length)
        if problem:
            raise ValueError(problem)
        self.length, self.dequant = length, dequant
        self.overflow_adjust = overflow_adjust and needs_overflow_adjust(length)
        rows = length // min(KEEP_CHOICES)
        ports = {"x": In(data.ArrayLayout(TOKEN_PAIR, BLOCK)),
                 "w": In(data.ArrayLayout(signed(W_BITS), length)),
                 "index": In(data.ArrayLayout(INDEX_BITS, length)),
                 "keep": In(KEEP_CODE_BITS), "int4": In(1),
                 "valid": In(1), "first": In(1), "last": In(1),
                 "result": Out(data.ArrayLayout(FP32_PAIR if dequant else SUM_PAIR, rows)),
                 "done": Out(1)}
        if dequant:
            ports |= {"scale": In(data.ArrayLayout(FP32.width, rows)), "token_scale": In(FP32_PAIR)}
        super().__init__(ports)

    def _control(self, m: Module):
        """The block's control, registered with slice 0's P, then one register per slice."""
        count = Signal(range(BLOCKS_PER_GROUP))
        index = Mux(self.first, 0, count)
        in_first_group = Signal()
        first_group = self.first | (in_first_group & index.any())
        with m.If(self.valid):
            m.d.sync += [count.eq(Mux(index == BLOCKS_PER_GROUP - 1, 0, index + 1)),
                         in_first_group.eq(first_group)]
        ctrl = [Signal(CTRL, name=f"ctrl_{i}") for i in range(self.length)]
        m.d.sync += [ctrl[0].valid.eq(self.valid), ctrl[0].group_start.eq(~index.any()),
                     ctrl[0].group_end.eq(index == BLOCKS_PER_GROUP - 1),
                     ctrl[0].run_first_group.eq(first_group), ctrl[0].run_end.eq(self.last)]
        m.d.sync += [ctrl[i].eq(ctrl[i - 1]) for i in range(1, self.length)]
        return ctrl

    def elaborate(self, platform):
        m = Module()
        length, groups = self.length, self.length // DSP_GROUP
        choices = keep_choices(length)
        ctrl = self._control(m)

        # per slice: sparse MUX, packing, skew by i; per group: Z-MUX zero at segment starts
        a, b = [], []
        for i in range(length):
            mux = m.submodules[f"mux{i}"] = SparseMux()
            code = Signal(signed(DSP_B_BITS), name=f"code{i}")
            m.d.comb += [mux.block.eq(self.x), mux.index.eq(self.index[i]),
                         code.eq(Mux(self.int4, self.w[i][:4].as_signed(), self.w[i]))]
            a.append(delay(m, pack_pair(m, mux.selected, f"a{i}"), i, f"a{i}"))
            b.append(delay(m, code, i, f"b{i}"))

        pcin = Signal(signed(DSP_P_BITS))  # slice 0 always restarts: its PCIN is unused
        side = Signal(signed(BLOCK_SUM_BITS))
        nodes = []
        for j in range(groups):
            group = m.submodules[f"group{j}"] = DspGroup()
            restart = _by_keep(m, self.keep, {n: (DSP_GROUP * j) % n == 0 for n in choices},
                               f"restart{j}")
            emit = _by_keep(m, self.keep, {n: (DSP_GROUP * (j + 1)) % n == 0 for n in choices},
                            f"emit{j}")
            m.d.comb += [group.a[s].eq(a[DSP_GROUP * j + s]) for s in range(DSP_GROUP)]
            m.d.comb += [group.b[s].eq(b[DSP_GROUP * j + s]) for s in range(DSP_GROUP)]
            m.d.comb += [group.pcin.eq(pcin), group.zero.eq(restart)]
            node = m.submodules[f"node{j}"] = ReductionNode()
            m.d.comb += [node.p.eq(group.p), node.side.eq(side), node.emit.eq(emit),
                         node.ctrl.eq(ctrl[DSP_GROUP * j + 1])]
            nodes.append(node)
            if self.overflow_adjust and j + 1 < groups:
                oau = m.submodules[f"oau{j}"] = OverflowAdjustUnit()
                m.d.comb += [oau.p.eq(group.p), oau.side.eq(side), oau.restart.eq(emit)]
                pcin, side = oau.pcout, oau.side_out
            else:
                pcin, side = group.p, Signal(signed(BLOCK_SUM_BITS), name=f"no_side{j}")

        self._outputs(m, nodes, choices)
        return m

    def _outputs(self, m: Module, nodes, choices) -> None:
        """Row r's node for each N (node ``(r + 1)·N/2 − 1``): its scale in, its outputs out."""
        if self.dequant:
            token_scale = Signal(FP32_PAIR)  # sampled on the run's last block
            with m.If(self.valid & self.last):
                m.d.sync += token_scale.eq(self.token_scale)
        row_of = {n: {(r + 1) * n // DSP_GROUP - 1: r for r in range(self.length // n)} for n in choices}
        stages = []
        for j, node in enumerate(nodes):
            if self.dequant:
                scale = Signal(FP32.width, name=f"scale{j}")
                with m.Switch(self.keep):
                    for n in choices:
                        if j in row_of[n]:
                            with m.Case(KEEP_CHOICES.index(n)):
                                m.d.comb += scale.eq(self.scale[row_of[n][j]])
                m.d.comb += node.scale.eq(delay(m, scale, DSP_GROUP * j + 2, f"scale{j}"))
                out = m.submodules[f"dequant{j}"] = CsdChainDequant()
                m.d.comb += [out.sum.eq(node.sum), out.ready.eq(node.ready),
                             out.first.eq(node.first), out.last.eq(node.last),
                             out.scale.eq(node.scale_out), out.token_scale.eq(token_scale)]
                stages.append((out.result, out.done))
            else:
                stages.append((node.sum, node.ready & node.last))
        with m.Switch(self.keep):
            for n in choices:
                with m.Case(KEEP_CHOICES.index(n)):
                    m.d.comb += [self.result[r].eq(stages[j][0]) for j, r in row_of[n].items()]
        m.d.comb += self.done.eq(stages[-1][1])
