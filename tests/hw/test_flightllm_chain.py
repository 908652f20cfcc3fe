"""FlightLLM's configurable sparse DSP chain against the golden model on the Amaranth simulator
(fast): DSP48E2 packing and lane split, sparse MUX, the design rules, whole chains run by run,
the OAU's reason to exist, the units' golden and vectors, and parameter checks."""

import gc
import warnings

import numpy as np
import pytest
from amaranth import Module, signed
from amaranth.hdl import UnusedElaboratable
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from core.errors import UserError
from hw.flightllm.chain import CsdChain
from hw.flightllm.dsp import TOKEN_PAIR, Dsp48e2Slice, pack_pair, split_lanes
from hw.flightllm.sparse_mux import SparseMux
from hw.flightllm.units import run_operands
from hw.flightllm.vectors import _real_activations, chain_runs, real_weights
from hw.registry import get_unit, resolve_params
from sim.flightllm import design
from sim.flightllm.tile import csd_chain_run_cycles
from sim.formats.flightllm import (
    GROUP,
    FlightLlmFormat,
    LayerRule,
    gemm,
    group_sums,
    reference_gemm,
)
from sim.formats.pertoken import encode as pertoken_encode

LANE = 18
"""The high token sits this many bits up in the A port (the paper's packing), as the test
knows it."""



def _wrap(value: int, bits: int) -> int:
    """``value`` as a ``bits``-bit two's-complement number."""
    half = 1 << (bits - 1)
    return ((value + half) & ((1 << bits) - 1)) - half


def _pack(lanes, bits: int) -> int:
    word = 0
    for i, lane in enumerate(lanes):
        word |= (int(lane) & ((1 << bits) - 1)) << (bits * i)
    return word


def _unpack(word: int, bits: int, count: int) -> list[int]:
    return [(word >> (bits * i)) & ((1 << bits) - 1) for i in range(count)]


# --- 1. DSP48E2 packing and lane split ------------------------------------------------------------

class _PackedAccumulator(wiring.Component):
    """One :class:`Dsp48e2Slice` whose PCIN is its own P (a cascade of products in time), its A
    packed from a token pair, its P split into the two lanes."""

    pair: In(TOKEN_PAIR)
    w: In(signed(design.DSP_B_BITS))
    zero: In(1)
    p: Out(signed(design.DSP_P_BITS))
    low: Out(signed(LANE))
    high: Out(signed(design.DSP_P_BITS - LANE))

    def elaborate(self, platform):
        m = Module()
        dsp = m.submodules.dsp = Dsp48e2Slice()
        m.d.comb += [dsp.a.eq(pack_pair(m, self.pair, "a")), dsp.b.eq(self.w),
                     dsp.pcin.eq(dsp.p), dsp.zero.eq(self.zero), self.p.eq(dsp.p)]
        low, high = split_lanes(m, dsp.p, "lanes")
        m.d.comb += [self.low.eq(low), self.high.eq(high)]
        return m


X_EXTREMES = (127, -127, -128, 0, 1, -1)
W_EXTREMES = (127, -127, 7, -7, 0, 1, -1)


def _product_steps() -> list[tuple[int, int, int, int]]:
    """(x_low, x_high, w, zero) steps: every extreme product alone, cascades of 8 and 16
    extreme products, the exact lane boundary ±2^17 and random runs with random restarts."""
    steps = [(lo, hi, w, 1) for lo in X_EXTREMES for hi in X_EXTREMES for w in W_EXTREMES]
    for lo in X_EXTREMES:
        for hi in X_EXTREMES:
            for w in (127, -127, 7, -7):
                steps += [(lo, hi, w, int(i == 0)) for i in range(16)]
    # S_low: 8·127·127 + 16·127 + 7 = 2^17 − 1 (exact), + 1 = 2^17 (misread)
    steps += [(127, -128, 127, int(i == 0)) for i in range(8)]
    steps += [(16, 127, 127, 0), (7, -1, 1, 0), (1, 5, 1, 0)]
    # S_low: 8·(−128)·127 − 128·8 = −2^17 (exact), − 1 (misread)
    steps += [(-128, 127, 127, int(i == 0)) for i in range(8)]
    steps += [(-128, -128, 8, 0), (-1, 3, 1, 0)]
    rng = np.random.default_rng(11)
    for _ in range(1500):
        steps.append((int(rng.integers(-128, 128)), int(rng.integers(-128, 128)),
                      int(rng.integers(-127, 128)), int(rng.random() < 0.08)))
    return steps


def test_packed_products_cascade_exactly_and_lanes_split_below_2_17(run_sim):
    """P = Σ x_high·w·2^18 + Σ x_low·w exactly; split_lanes recovers both lane sums exactly
    when −2^17 ≤ Σ low < 2^17 and misreads them beyond (low wraps, high off by the borrow):
    a low lane sum of 2^17 reads as −2^17 — the reason for the OAU."""
    dut = _PackedAccumulator()
    steps = _product_steps()
    seen = {"exact": 0, "misread": 0}
    boundary = {}

    async def tb(ctx):
        s_low = s_high = 0
        for lo, hi, w, zero in steps:
            ctx.set(dut.pair.low, lo)
            ctx.set(dut.pair.high, hi)
            ctx.set(dut.w, w)
            ctx.set(dut.zero, zero)
            await ctx.tick()
            s_low = (0 if zero else s_low) + lo * w
            s_high = (0 if zero else s_high) + hi * w
            p, low, high = ctx.get(dut.p), ctx.get(dut.low), ctx.get(dut.high)
            assert p == s_high * 2 ** LANE + s_low, (lo, hi, w, s_low, s_high, p)
            if abs(s_low) == 2 ** 17 or abs(s_low) == 2 ** 17 - 1 or s_low == -2 ** 17 - 1:
                boundary[s_low] = (low, high, s_high)
            if -2 ** 17 <= s_low < 2 ** 17:
                assert (low, high) == (s_low, s_high)
                seen["exact"] += 1
            else:
                wrapped = _wrap(s_low, LANE)
                assert low == wrapped != s_low
                assert high == s_high + (s_low - wrapped) // 2 ** LANE != s_high
                seen["misread"] += 1

    run_sim(dut, tb)
    assert seen["exact"] > 1000 and seen["misread"] > 100, seen
    low, high, s_high = boundary[2 ** 17]
    assert (low, high) == (-2 ** 17, s_high + 1)        # 2^17 is misread
    assert boundary[2 ** 17 - 1][:2] == (2 ** 17 - 1, boundary[2 ** 17 - 1][2])
    assert boundary[-2 ** 17][:2] == (-2 ** 17, boundary[-2 ** 17][2])
    low, high, s_high = boundary[-2 ** 17 - 1]
    assert (low, high) == (2 ** 17 - 1, s_high - 1)       # −2^17 − 1 is misread


def test_dsp_z_mux_zero_drops_pcin(run_sim):
    """``zero`` makes P = A·B whatever PCIN holds; without it P = A·B + PCIN (48-bit wrap)."""
    dut = Dsp48e2Slice()
    rng = np.random.default_rng(5)
    cases = [((1 << 26) - 1, (1 << 17) - 1, (1 << 47) - 1), (-(1 << 26), -(1 << 17), -(1 << 47)),
             (127 * 2 ** 18 + 127, 127, 12345), (0, 0, -1)]
    cases += [(int(rng.integers(-(1 << 26), 1 << 26)), int(rng.integers(-(1 << 17), 1 << 17)),
               int(rng.integers(-(1 << 47), 1 << 47))) for _ in range(50)]

    async def tb(ctx):
        for a, b, pcin in cases:
            for zero in (1, 0):
                ctx.set(dut.a, a)
                ctx.set(dut.b, b)
                ctx.set(dut.pcin, pcin)
                ctx.set(dut.zero, zero)
                await ctx.tick()
                want = a * b if zero else _wrap(a * b + pcin, 48)
                assert ctx.get(dut.p) == want, (a, b, pcin, zero)

    run_sim(dut, tb)


# --- 2. sparse MUX --------------------------------------------------------------------------------

def test_sparse_mux_selects_the_indexed_token_pair(run_sim):
    """For all 16 indices, ``selected`` is that position's (low, high) pair of the block."""
    dut = SparseMux()
    rng = np.random.default_rng(2)
    blocks = [rng.permutation(np.arange(-128, 128))[:32].reshape(16, 2) for _ in range(4)]
    blocks.append(np.array([[-128, 127], [127, -128]] * 8))

    async def tb(ctx):
        for block in blocks:
            for pos, (lo, hi) in enumerate(block):
                ctx.set(dut.block[pos].low, int(lo))
                ctx.set(dut.block[pos].high, int(hi))
            for index in range(16):
                ctx.set(dut.index, index)
                await ctx.delay(1e-6)
                assert (ctx.get(dut.selected.low), ctx.get(dut.selected.high)) == tuple(block[index])

    run_sim(dut, tb, clock=False)


# --- 3. design rules ------------------------------------------------------------------------------

def _most_products_in_low_lane(weight_bits: int) -> int:
    """Count products of worst-case magnitude |w|max·127 while their sum stays ≤ 2^17 − 1."""
    worst = (2 ** (weight_bits - 1) - 1) * 127
    n = 0
    while (n + 1) * worst <= 2 ** 17 - 1:
        n += 1
    return n


def test_design_rules():
    """Lane capacity from first principles (INT8 8, INT4 147), the OAU bypass at 8 slices, N
    choices, length problems, the group sum width and the throughput rules."""
    assert _most_products_in_low_lane(8) == 8 and _most_products_in_low_lane(4) == 147
    assert design.lane_products(8) == 8 and design.lane_products(4) == 147
    assert design.OAU_BYPASS_LENGTH == 8
    assert [design.needs_overflow_adjust(n) for n in (2, 4, 8, 16, 32, 64)] == [
        False, False, False, True, True, True]
    assert design.keep_choices(2) == (2,) and design.keep_choices(4) == (2, 4)
    assert design.keep_choices(8) == (2, 4, 8) and design.keep_choices(64) == (2, 4, 8, 16)
    for bad in (3, 1, 128, 6, 0, 12):
        assert "power of two" in design.length_problem(bad)
    assert [design.length_problem(2 ** i) for i in range(1, 7)] == [None] * 6
    bound = 128 * 127 * 127
    bits = design.GROUP_SUM_BITS
    assert -2 ** (bits - 1) <= -bound and bound <= 2 ** (bits - 1) - 1
    assert bound > 2 ** (bits - 2) - 1  # one bit fewer cannot hold it
    assert bits == 22
    assert 16 * 127 * 127 <= 2 ** (design.BLOCK_SUM_BITS - 1) - 1 < 2 * 16 * 127 * 127
    assert design.segments(16, 4) == 4 and design.segments(8, 8) == 1
    assert design.dense_macs_per_cycle(16, 4) == 2 * 4 * 16
    assert design.dense_macs_per_cycle(16, 16) == 32


def test_run_cycle_formula():
    """k/16 blocks + L − 1 cascade + 1 reduce (+ 2 dequantize) cycles; k must be whole groups."""
    assert csd_chain_run_cycles(16, 256) == 256 // 16 + 16 + 2 == 34
    assert csd_chain_run_cycles(16, 128, dequant=False) == 8 + 16
    assert csd_chain_run_cycles(4, 256) == 16 + 4 + 2
    with pytest.raises(ValueError):
        csd_chain_run_cycles(16, 100)


# --- 4. whole chains in the simulator -------------------------------------------------------------

def _simulate(run_sim, unit, params, drive, *, garbage_seed: int | None = 7):
    """Run the chain run by run (one in flight) as the cocotb bench does. With a seed, ports
    carry random garbage wherever the protocol does not sample them: ``scale`` except on each
    group's last block (and rows the run does not produce), ``token_scale`` except on the run's
    last block, and ``x``/``w``/``index`` while ``valid`` is low. Returns (read results,
    cycles per run)."""
    dut = unit.build(params)
    dequant = "scale" in drive
    runs, blocks = drive["x"].shape[:2]
    result_bits = int(drive["result_bits"])
    fields = len(dut.result.as_value()) // result_bits
    rng = np.random.default_rng(garbage_seed if garbage_seed is not None else 0)
    messy = garbage_seed is not None
    results = np.zeros((runs, fields), np.int64)
    cycles = np.zeros(runs, np.int64)
    rows_max = params.length // 2

    def junk(bits, count):
        return _pack(rng.integers(0, 1 << bits, count), bits)

    async def tb(ctx):
        for run in range(runs):
            ctx.set(dut.keep, int(drive["keep"][run]))
            ctx.set(dut.int4, int(drive["int4"][run]))
            rows = params.length // (2, 4, 8, 16)[int(drive["keep"][run])]
            for beat in range(blocks):
                ctx.set(dut.x.as_value(), _pack(drive["x"][run, beat], 8))
                ctx.set(dut.w.as_value(), _pack(drive["w"][run, beat], 8))
                ctx.set(dut.index.as_value(), _pack(drive["index"][run, beat], 4))
                if dequant:
                    sampled = beat % 8 == 7 or not messy
                    lanes = [int(drive["scale"][run, beat, r]) if sampled and r < rows
                             else int(rng.integers(0, 1 << 32)) if messy else 0
                             for r in range(rows_max)]
                    ctx.set(dut.scale.as_value(), _pack(lanes, 32))
                    if beat == blocks - 1 or not messy:
                        ctx.set(dut.token_scale.as_value(), _pack(drive["token_scale"][run, beat], 32))
                    else:
                        ctx.set(dut.token_scale.as_value(), junk(32, 2))
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, beat == 0)
                ctx.set(dut.last, beat == blocks - 1)
                await ctx.tick()
            ctx.set(dut.valid, 0)
            ctx.set(dut.first, 0)
            ctx.set(dut.last, 0)
            count = blocks
            while True:
                if messy:
                    ctx.set(dut.x.as_value(), junk(8, 32))
                    ctx.set(dut.w.as_value(), junk(8, params.length))
                    ctx.set(dut.index.as_value(), junk(4, params.length))
                    if dequant:
                        ctx.set(dut.scale.as_value(), junk(32, rows_max))
                        ctx.set(dut.token_scale.as_value(), junk(32, 2))
                if ctx.get(dut.done):
                    break
                await ctx.tick()
                count += 1
                assert count < 200, "done never came"
            cycles[run] = count
            results[run] = _unpack(ctx.get(dut.result.as_value()), result_bits, fields)

    run_sim(dut, tb)
    return unit.bench.read(params, {"result": results}), cycles


CHAIN_CASES = [("flightllm-chain-psum", 4, 96), ("flightllm-chain", 4, 96),
               ("flightllm-chain-psum", 16, 192), ("flightllm-chain-psum", 2, 48),
               ("flightllm-chain-psum", 32, 48)]
"""(unit, length, runs): 24 runs per (N, width) cover every vector kind and all six
adversarial variants; lengths 2 and 32 are extra coverage of the smallest and an OAU-heavy
chain (fewer runs)."""


@pytest.mark.parametrize("name, length, count", CHAIN_CASES,
                         ids=[f"{n.removeprefix('flightllm-')}-l{length}" for n, length, _ in CHAIN_CASES])
def test_chain_runs_match_golden_and_cycle_formula(name, length, count, run_sim):
    """Every run's outputs equal the unit's golden (FP32 bits / exact group sums) and take
    csd_chain_run_cycles cycles, with garbage on every port the protocol does not sample
    and random bits in the high nibble of INT4 weights."""
    unit = get_unit(name)
    params = resolve_params(unit, options={"length": str(length)})
    v = unit.vectors(params, count, 1)
    int4 = v["bits"] == 4
    high = v["w_port"] >> 4
    assert int4.any() and (~int4).any()
    assert (high[int4] != 0).reshape(int4.sum(), -1).any(1).all()  # every INT4 run has noise
    assert (v["w_port"][~int4] == v["w"][~int4] & 0xFF).all()
    want = unit.golden(params, v)
    got, cycles = _simulate(run_sim, unit, params, unit.bench.drive(params, v))
    dequant = name == "flightllm-chain"
    bad = np.flatnonzero((got != want).any(1))
    assert bad.size == 0, [(int(i), int(v["keep"][i]), int(v["bits"][i])) for i in bad[:5]]
    predicted = csd_chain_run_cycles(length, params.k, dequant=dequant)
    assert unit.cycles(params) == predicted == params.k // 16 + length + (2 if dequant else 0)
    assert (cycles == predicted).all(), set(cycles.tolist())
    assert set(zip(v["keep"].tolist(), v["bits"].tolist(), strict=True)) == {
        (n, b) for n in design.keep_choices(length) for b in (4, 8)}


def test_chain_ignores_the_high_nibble_of_int4_weights(run_sim):
    """Changing only the INT4 runs' high nibbles changes nothing; interpreting them as INT8
    would (so the noise in the vectors is really exercised)."""
    unit = get_unit("flightllm-chain-psum")
    params = resolve_params(unit, options={"length": "4"})
    v = unit.vectors(params, 16, 3)
    int4 = v["bits"] == 4
    drive = unit.bench.drive(params, v)
    got, _ = _simulate(run_sim, unit, params, drive, garbage_seed=None)
    flipped = dict(drive)
    flipped["w"] = drive["w"] ^ np.where(int4[:, None, None], 0xF0, 0)
    got_flipped, _ = _simulate(run_sim, unit, params, flipped, garbage_seed=None)
    assert (got == got_flipped).all() and (got == unit.golden(params, v)).all()
    as_int8 = dict(drive, int4=np.zeros_like(drive["int4"]))
    wrong, _ = _simulate(run_sim, unit, params, as_int8, garbage_seed=None)
    assert (wrong[int4] != got[int4]).any(1).all()


# --- 5. the overflow adjust unit is needed --------------------------------------------------------

def _saturated_runs(params):
    """Two N=16 INT8 runs of k = 128 with every code +127 and x = +127 on both tokens, then
    the low token at −127 (the low lane borrows from the high one)."""
    v = chain_runs(params.length, params.k, 16, 8, 2, seed=0)
    v["w"][:] = 127
    v["w_port"][:] = 127
    v["x"][:] = 127
    v["x"][1, 0] = -127
    return v


def test_chain_without_oau_overflows_the_low_lane(run_sim):
    """N = 16 INT8, every product +127·127: the low lane of a block sums to 258 064 ≥ 2^17.
    The normal chain is exact; built without its OAU the low lane wraps by −2^18 and the high
    lane gains the borrow, +1, in every block (8 per group)."""
    unit = get_unit("flightllm-chain-psum")
    normal = resolve_params(unit, options={"length": "16"})
    no_oau = resolve_params(unit, options={"length": "16", "overflow_adjust": "false"})
    v = _saturated_runs(normal)
    want = unit.golden(normal, v)
    block = 16 * 127 * 127
    assert block >= 2 ** 17 and want[0, :2].tolist() == [8 * block, 8 * block]
    assert want[1, :2].tolist() == [-8 * block, 8 * block]
    drive = unit.bench.drive(normal, v)
    got, _ = _simulate(run_sim, unit, normal, drive)
    assert (got == want).all()
    bad, _ = _simulate(run_sim, unit, no_oau, drive)
    assert bad[0, :2].tolist() == [8 * (block - 2 ** 18), 8 * (block + 1)]
    assert bad[1, :2].tolist() == [8 * (-block + 2 ** 18), 8 * (block - 1)]


def test_chain_without_oau_is_exact_at_n8_and_for_int4(run_sim):
    """The bypass rule: segments of ≤ 8 INT8 slices (and 16 INT4 slices) never overflow the
    low lane, so the same OAU-less build is exact on saturated N=8 and N=16 INT4 runs."""
    unit = get_unit("flightllm-chain-psum")
    no_oau = resolve_params(unit, options={"length": "16", "overflow_adjust": "false"})
    for keep, bits in ((8, 8), (16, 4)):
        qmax = 2 ** (bits - 1) - 1
        v = chain_runs(16, GROUP, keep, bits, 4, seed=2)
        v["w"][:2] = qmax
        v["w"][2:] = -qmax
        v["w_port"] = np.where(bits == 4, (v["w"] & 0xF) | 0xA0, v["w"] & 0xFF)
        v["x"][:, 0] = 127
        v["x"][:, 1] = -128
        want = unit.golden(no_oau, v)
        assert np.abs(want).max() == 8 * keep * qmax * 128
        got, _ = _simulate(run_sim, unit, no_oau, unit.bench.drive(no_oau, v))
        assert (got == want).all(), (keep, bits)


# --- 6. the golden is the format's GEMM -----------------------------------------------------------

def test_unit_golden_is_the_formats_gemm_and_group_sums():
    """Per run, row r token t of the dequantizing unit's golden is gemm's FP32 bits at [t, r]
    (and matches the plain-numpy reference_gemm); the psum golden is group_sums; rows the
    chain does not produce at that N are 0."""
    chain, psum = get_unit("flightllm-chain"), get_unit("flightllm-chain-psum")
    pc = resolve_params(chain, options={"length": "8"})
    pp = resolve_params(psum, options={"length": "8"})
    vc, vp = chain.vectors(pc, 24, 4), psum.vectors(pp, 24, 4)
    gc, gp = chain.golden(pc, vc).reshape(24, 4, 2), psum.golden(pp, vp).reshape(24, 4, 2)
    for run in range(24):
        x, w = run_operands(pc, vc, run)
        rows = 8 // int(vc["keep"][run])
        y = gemm(x, w)
        assert y.shape == (2, rows)
        bits = y.view(np.uint32)
        assert all(gc[run, r, t] == bits[t, r] for r in range(rows) for t in range(2))
        assert (gc[run, rows:] == 0).all()
        assert (reference_gemm(x, w).view(np.uint32) == bits).all()
        x, w = run_operands(pp, vp, run)
        sums = group_sums(x, w)
        assert sums.shape == (2, rows, 1)
        assert all(gp[run, r, t] == sums[t, r, 0] for r in range(rows) for t in range(2))
        assert (gp[run, rows:] == 0).all()


def test_group_sums_match_a_brute_force_loop():
    """group_sums over a random 3-token × 5-row × 256-channel 4:16 INT8 case equals a plain
    triple loop over tokens, rows and kept weights (index into its block of 16)."""
    rng = np.random.default_rng(9)
    fmt = FlightLlmFormat([LayerRule("*", 4, 8)], name="t")
    w = fmt.encode(rng.normal(size=(5, 256)).astype(np.float32), "weight", name="w")
    x = pertoken_encode(rng.normal(size=(3, 256)).astype(np.float32), bits=8, multiple=GROUP,
                        name="x", scale=None, fmt="t")
    codes, index = w.codes.astype(int), w.meta["index"].astype(int)
    want = np.zeros((3, 5, 2), np.int64)
    for m in range(3):
        for n in range(5):
            for b in range(16):
                for i in range(4):
                    want[m, n, b // 8] += int(codes[n, b, i]) * int(x.codes[m, 16 * b + index[n, b, i]])
    assert (group_sums(x, w) == want).all()
    assert np.abs(want).max() > 1000


# --- 7. vectors -----------------------------------------------------------------------------------

def _real_slice(v, run, length, k) -> bool:
    """Whether run ``run``'s codes, indices, scales and x are a slice of a real SmolLM2 layer
    (same output rows, same group window) and its captured inputs."""
    keep, bits = int(v["keep"][run]), int(v["bits"][run])
    rows, blocks, groups = length // keep, k // 16, k // GROUP
    codes = v["w"][run, :rows * keep].reshape(rows, keep, blocks).transpose(0, 2, 1)
    index = v["index"][run, :rows * keep].reshape(rows, keep, blocks).transpose(0, 2, 1)
    for name, (wq, wi, ws) in real_weights(keep, bits).items():
        xq = _real_activations()[name][0]
        for g0 in range(wq.shape[1] * 16 // GROUP - groups + 1):
            b0 = g0 * GROUP // 16
            window = wq[:, b0:b0 + blocks]
            for out in np.flatnonzero((window == codes[0]).all((1, 2))):
                if out + rows > len(wq):
                    continue
                xs = xq[:, g0 * GROUP:g0 * GROUP + k]
                if ((wq[out:out + rows, b0:b0 + blocks] == codes).all()
                        and (wi[out:out + rows, b0:b0 + blocks] == index).all()
                        and (ws[out:out + rows, g0:g0 + groups] == v["scale"][run, :rows]).all()
                        and all((xs == x).all(1).any() for x in v["x"][run])):
                    return True
    return False


def test_bench_vectors_cover_every_configuration_with_real_and_extreme_runs():
    """chain_runs(16, 256, all N, both widths, 1600): ≥ 200 runs per (N, width); ≥ 40 % of
    each configuration's first 40 runs are real SmolLM2 slices with nonzero codes; some run
    of each reaches |block lane sum| = N·qmax·127; deterministic per seed."""
    v = chain_runs(16, 256, 0, 0, 1600)
    assert v["x"].shape == (1600, 2, 256) and v["w"].shape == (1600, 16, 16)
    for keep in (2, 4, 8, 16):
        for bits in (4, 8):
            runs = np.flatnonzero((v["keep"] == keep) & (v["bits"] == bits))
            assert len(runs) >= 200, (keep, bits)
            qmax = 2 ** (bits - 1) - 1
            assert np.abs(v["w"][runs]).max() <= qmax and np.abs(v["x"][runs]).max() <= 127
            real = [r for r in runs[:40] if _real_slice(v, r, 16, 256)]
            assert len(real) >= 16, (keep, bits, len(real))
            assert all(v["w"][r].any() for r in real)
            # per run, slice, block: the lane sum of each token over the row's N slices
            rows = 16 // keep
            xs = v["x"][runs].reshape(len(runs), 2, 16, 16)  # [run, token, block, channel]
            lane = np.zeros((len(runs), 2, rows, 16), np.int64)
            for t in range(2):
                for s in range(16):
                    x_sel = np.take_along_axis(xs[:, t], v["index"][runs, s][:, :, None], axis=2)[..., 0]
                    lane[:, t, s // keep] += v["w"][runs, s] * x_sel
            assert np.abs(lane).max() == keep * qmax * 127, (keep, bits)
    again = chain_runs(16, 256, 0, 0, 1600)
    assert all((again[key] == v[key]).all() for key in v)
    other = chain_runs(16, 256, 0, 0, 1600, seed=1)
    assert not (other["x"] == v["x"]).all()


# --- 8. parameter problems ------------------------------------------------------------------------

@pytest.mark.parametrize("name, options, message", [
    ("flightllm-chain", {"length": "12"}, "chain length must be a power of two from 2 to 64"),
    ("flightllm-chain", {"length": "128"}, "chain length must be a power of two"),
    ("flightllm-chain", {"length": "8", "keep": "16"}, "runs N:16 with N in 2, 4, 8; got N = 16"),
    ("flightllm-chain", {"keep": "3"}, "got N = 3"),
    ("flightllm-chain", {"weight_bits": "6"}, "weight_bits must be 4, 8 or 0 (both), got 6"),
    ("flightllm-chain", {"k": "100"}, "positive multiple of 128, got 100"),
    ("flightllm-chain-psum", {"k": "256"}, "k must be 128, got 256"),
    ("flightllm-chain-psum", {"length": "6"}, "power of two"),
])
def test_chain_parameters_are_checked(name, options, message):
    with pytest.raises(UserError) as err:
        resolve_params(get_unit(name), options=options)
    assert message in str(err.value)


def test_chain_refuses_a_bad_length_and_defaults_are_valid():
    """The constructor refuses what length_problem refuses; default parameters resolve."""
    with warnings.catch_warnings():  # the refused chain is never elaborated, on purpose
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="power of two"):
            CsdChain(12)
        gc.collect()
    p = resolve_params(get_unit("flightllm-chain"))
    assert (p.length, p.k, p.keep, p.weight_bits, p.overflow_adjust) == (16, 256, 0, 0, True)
    assert resolve_params(get_unit("flightllm-chain-psum")).k == GROUP


# --- 9. lint --------------------------------------------------------------------------------------

LINT_CASES = [("flightllm-chain", {"length": "4"}), ("flightllm-chain", {"length": "16"}),
              ("flightllm-chain-psum", {"length": "4"}), ("flightllm-chain-psum", {"length": "16"}),
              ("flightllm-chain-psum", {"length": "16", "overflow_adjust": "false"})]


@pytest.mark.slow
@pytest.mark.parametrize("name, options", LINT_CASES,
                         ids=["chain-l4", "chain-l16", "psum-l4", "psum-l16", "psum-l16-no-oau"])
def test_chain_verilog_is_lint_clean(name, options):
    from hw.registry import elaborate
    from hw.verilator import lint

    unit = get_unit(name)
    design_ = elaborate(unit, resolve_params(unit, options=options))
    assert design_.top.endswith("_no_oau") == (options.get("overflow_adjust") == "false")
    assert lint(design_) == []
