"""Amaranth-simulator unit tests of the OliVe components against the golden model (fast)."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
from amaranth.hdl import UnusedElaboratable

from hw.olive.array import OvpSystolicArray, expected_words, output_words
from hw.olive.decoder import NORMAL_TYPES, OvpDecoder
from hw.olive.encoder import OvpEncoder
from hw.olive.pe import OvpPe
from hw.olive.vectors import adversarial_pairs, random_pairs
from sim.formats.ovp import decode_fields, encode_fixed, expand
from sim.olive.tile import ovp_array_tile_cycles


def test_decoder_every_ovp4_code_pair_matches_golden(run_sim):
    dut = OvpDecoder(4)
    codes = np.arange(256)
    pairs = np.stack([codes & 15, codes >> 4], 1)
    bad = []

    async def tb(ctx):
        for index, t in enumerate(NORMAL_TYPES[4]):
            exp, integer = decode_fields(pairs, t)
            ctx.set(dut.normal, index)
            for c in codes:
                ctx.set(dut.code, int(c))
                for lane in range(2):
                    got = (ctx.get(dut.value[lane].exp), ctx.get(dut.value[lane].int))
                    if got != (exp[c, lane], integer[c, lane]):
                        bad.append((t.name, int(c), lane, got))

    run_sim(dut, tb, clock=False)
    assert bad == []


def test_decoder_ovp8_identifier_patterns_match_golden(run_sim):
    dut = OvpDecoder(8)
    t = NORMAL_TYPES[8][0]
    other = np.arange(256)
    words = np.concatenate([other << 8 | 0x80, 0x80 << 8 | other, np.arange(0, 65536, 257)])
    pairs = np.stack([words & 255, words >> 8], 1)
    exp, integer = decode_fields(pairs, t)
    bad = []

    async def tb(ctx):
        for n, w in enumerate(words):
            ctx.set(dut.code, int(w))
            got = [(ctx.get(dut.value[i].exp), ctx.get(dut.value[i].int)) for i in range(2)]
            if got != [(exp[n, 0], integer[n, 0]), (exp[n, 1], integer[n, 1])]:
                bad.append((int(w), got))

    run_sim(dut, tb, clock=False)
    assert bad == []


@pytest.mark.parametrize("bits", [4, 8])
def test_encoder_matches_golden_on_adversarial_and_random_pairs(bits, run_sim):
    dut = OvpEncoder(bits)
    rng = np.random.default_rng(bits)
    cases = [(index, np.concatenate([adversarial_pairs(t, rng), random_pairs(t, 100, rng)]))
             for index, t in enumerate(NORMAL_TYPES[bits])]
    bad = []

    async def tb(ctx):
        ctx.set(dut.valid, 1)
        for index, q in cases:
            expected = encode_fixed(q.reshape(1, -1), NORMAL_TYPES[bits][index])[0].reshape(-1, 2)
            ctx.set(dut.normal, index)
            for n, (qa, qb) in enumerate(q):
                ctx.set(dut.q[0], int(qa))
                ctx.set(dut.q[1], int(qb))
                await ctx.tick()  # latency: one cycle
                code = ctx.get(dut.code)
                got = (code & ((1 << bits) - 1), code >> bits)
                if got != tuple(expected[n]) or not ctx.get(dut.valid_out):
                    bad.append((index, int(qa), int(qb), got, tuple(expected[n])))

    run_sim(dut, tb)
    assert bad == []


def test_encoder_keeps_larger_outlier_and_even_on_ties(run_sim):
    dut = OvpEncoder(4)
    t = NORMAL_TYPES[4][0]  # int4: outliers start above 7 normal steps
    big, bigger = 40 << 4, 90 << 4

    async def tb(ctx):
        results = []
        for qa, qb in ((big, bigger), (bigger, -big), (-big, big)):
            ctx.set(dut.q[0], qa)
            ctx.set(dut.q[1], qb)
            await ctx.tick()
            code = ctx.get(dut.code)
            results.append((code & 15, code >> 4))
        assert results[0][0] == t.ident and results[0][1] != t.ident  # odd larger: even victim
        assert results[1][1] == t.ident  # even larger: odd victim
        assert results[2][1] == t.ident  # tie: the even element wins

    run_sim(dut, tb)


def test_pe_accumulates_shifted_products_and_clears(run_sim):
    dut = OvpPe(exp_width=3, int_width=4, acc_width=32)

    async def tb(ctx):
        # (a lane 0, a lane 1, b lane 0, b lane 1, clear); values are (exponent, integer)
        ops = [((5, -3), (2, 7), (1, 1), (0, 2), 1),   # (-3·1)<<6 + (7·2)<<2 = -136
               ((0, 7), (0, 7), (6, 2), (6, -3), 0),   # + (7·2)<<6 + (7·-3)<<6 = -448
               ((0, 0), (0, 0), (0, 0), (0, 0), 1)]    # clear with zero
        expected = [-136, -136 - 448, 0]
        for (a0, a1, b0, b1, clear), want in zip(ops, expected, strict=True):
            for lane, (e, i) in enumerate((a0, a1)):
                ctx.set(dut.a[lane].exp, e)
                ctx.set(dut.a[lane].int, i)
            for lane, (e, i) in enumerate((b0, b1)):
                ctx.set(dut.b[lane].exp, e)
                ctx.set(dut.b[lane].int, i)
            ctx.set(dut.valid, 1)
            ctx.set(dut.clear, clear)
            await ctx.tick()
            assert ctx.get(dut.acc) == want
        ctx.set(dut.valid, 0)
        await ctx.tick()
        assert ctx.get(dut.acc) == 0  # holds without valid

    run_sim(dut, tb)


@pytest.mark.parametrize("acc_bits", [32, 40])
@pytest.mark.parametrize("bits", [4, 8])
def test_array_tiles_match_golden_gemm_and_cycle_formula(bits, acc_bits, run_sim):
    """Both modes of one array: 4-bit (every PE one output) and 8-bit (2 × 2 PEs per output,
    sums in two PE words), with the default and a wider accumulator word; random codes include
    patterns the encoder never emits."""
    rows, cols, k = 4, 6, 10
    dut = OvpSystolicArray(rows, cols, acc_bits)
    rng = np.random.default_rng(bits)
    types = NORMAL_TYPES[bits]
    lanes = 1 if bits == 4 else 2  # array rows (columns) per operand row (column)
    out_rows, out_cols = rows // lanes, cols // lanes

    async def tb(ctx):
        ctx.set(dut.mode8, bits == 8)
        for _ in range(3):
            na, nw = (int(x) for x in rng.integers(0, len(types), 2))
            a = rng.integers(0, 1 << bits, (out_rows, k))
            w = rng.integers(0, 1 << bits, (out_cols, k))
            want = (expand(a.astype(np.uint8), types[na]).astype(np.int64)
                    @ expand(w.astype(np.uint8), types[nw]).astype(np.int64).T)
            ctx.set(dut.a_normal, na if bits == 4 else 0)
            ctx.set(dut.w_normal, nw if bits == 4 else 0)
            cycles = 0
            for p in range(k // 2):
                for port, codes in ((dut.a_code, a), (dut.w_code, w)):
                    for r in range(len(codes)):
                        word = int(codes[r, 2 * p] | codes[r, 2 * p + 1] << bits)
                        for lane in range(lanes):
                            ctx.set(port[lanes * r + lane], (word >> (8 * lane)) & 0xFF)
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, p == 0)
                ctx.set(dut.last, p == k // 2 - 1)
                await ctx.tick()
                cycles += 1
            ctx.set(dut.valid, 0)
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            words = np.array([ctx.get(dut.result[x]) for x in range(rows * cols)]) & ((1 << acc_bits) - 1)
            assert (output_words(words.reshape(rows, cols), bits) == expected_words(want, bits, acc_bits)).all()
            assert cycles == ovp_array_tile_cycles(rows, cols, k)

    run_sim(dut, tb)


def test_array_needs_even_sides():
    with warnings.catch_warnings():  # the half-built array is never elaborated, on purpose
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="even"):
            OvpSystolicArray(3, 4)
        gc.collect()


def test_tile_formula():
    assert ovp_array_tile_cycles(8, 8, 64) == 32 + 8 + 8
    assert ovp_array_tile_cycles(32, 32, 63) == 32 + 64
    with pytest.raises(ValueError):
        ovp_array_tile_cycles(0, 8, 64)


def test_olive_systolic_compute_model_uses_the_tile_formula():
    from sim.compute.registry import get_compute_model
    from sim.target import load_target

    target = load_target("olive-systolic")  # 32 × 64 PEs
    model = get_compute_model(target)
    ovp4, ovp8 = target.compute.precisions["ovp4"], target.compute.precisions["ovp8"]
    # native 4-bit: one pair per PE per cycle, folds over the full array
    assert model.matmul((64, 100, 96), ovp4, 1.0, True).cycles == 2 * 2 * ovp_array_tile_cycles(32, 64, 100)
    # 8-bit: 2 × 2 PEs fuse into one operation, so a fold holds 16 × 32 outputs (a quarter of
    # the rate) but still crosses the whole 32 × 64 array
    assert model.matmul((64, 100, 96), ovp8, 1.0, True).cycles == 4 * 3 * ovp_array_tile_cycles(32, 64, 100)


def test_result_words_are_compared_on_every_bit():
    """8-bit mode, 40-bit PE words: each output is an 80-bit register pair; a wrong bit anywhere
    in it (here bit 70, beyond any int64) is a mismatch."""
    want = np.array([[5, -3]])                      # 1 × 2 outputs of a 2 × 4 array
    expected = expected_words(want, 8, 40)
    words = np.zeros((2, 4), np.int64)
    words[0] = expected.reshape(-1)                  # (low, high) of each output along row 0
    assert (output_words(words, 8) == expected).all()
    assert expected[0, 1, 1] == (1 << 40) - 1        # −3 sign-extends through the high word
    words[0, 1] ^= 1 << 30
    assert not (output_words(words, 8) == expected).all()
