"""FlightLLM N:16 sparse INT4/INT8 weights and the sparse DSP chain golden GEMM."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.errors import UserError
from sim.formats import get_format
from sim.formats.base import Role
from sim.formats.flightllm import (
    BLOCK,
    DEFAULT_RULES,
    FLIGHTLLM_W4S,
    GROUP,
    FlightLlmFormat,
    LayerRule,
    keep_mask,
    nm_prune,
    reference_gemm,
    rule_for,
)

FORMATS = {f"{keep}:16-int{bits}": FlightLlmFormat([LayerRule("*", keep, bits)])
           for keep in (2, 4, 8, 16) for bits in (4, 8)}


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- pruning ------------------------------------------------------------------------------------

weights = hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 70)),
                     elements=st.floats(-100, 100, width=32) | st.sampled_from([0.0, 1.0, -1.0]))


@settings(max_examples=150, deadline=None)
@given(w=weights, keep=st.sampled_from([2, 4, 8, 16]), bits=st.sampled_from([4, 8]))
def test_nm_mask_keeps_exactly_n_largest_per_block(w, keep, bits):
    fmt = FlightLlmFormat([LayerRule("*", keep, bits)])
    enc = fmt.encode(w, Role.WEIGHT, name="w")
    mask = keep_mask(enc)
    blocks = mask.reshape(mask.shape[0], -1, BLOCK)
    assert (blocks.sum(axis=2) == keep).all()
    index = enc.meta["index"]
    assert (np.diff(index.astype(int), axis=2) > 0).all() and index.max() < BLOCK
    # Every pruned magnitude ≤ every kept magnitude of its block.
    padded = np.zeros(mask.shape, np.float32)
    padded[:, : w.shape[1]] = w
    mag = np.abs(padded).reshape(blocks.shape)
    kept_min = np.where(blocks, mag, np.inf).min(axis=2)
    dropped_max = np.where(blocks, -np.inf, mag).max(axis=2)
    assert (dropped_max <= kept_min).all()
    # Decoded weights are zero wherever pruned.
    dec = fmt.decode(enc)
    assert not dec[~mask[:, : w.shape[1]]].any()


@settings(max_examples=100, deadline=None)
@given(w=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 300)),
                    elements=st.floats(2**-6, 64, width=32) | st.floats(-64, -2**-6, width=32)),
       keep=st.sampled_from([2, 4, 8, 16]), bits=st.sampled_from([4, 8]))
def test_decode_encode_idempotent(w, keep, bits):
    fmt = FlightLlmFormat([LayerRule("*", keep, bits)])
    once = fmt.decode(fmt.encode(w, Role.WEIGHT, name="w"))
    twice = fmt.decode(fmt.encode(once, Role.WEIGHT, name="w"))
    assert np.array_equal(once, twice)


def test_prune_ties_keep_lower_index():
    values, index = nm_prune(np.ones((1, 16), np.float32), 4)
    assert index.tolist() == [[[0, 1, 2, 3]]] and values.tolist() == [[[1, 1, 1, 1]]]


# --- layer rules and storage ----------------------------------------------------------------------

def test_default_rules_sparse_q_k_only():
    assert rule_for("model.layers.3.self_attn.q_proj.weight", DEFAULT_RULES).keep == 4
    assert rule_for("model.layers.3.self_attn.k_proj", DEFAULT_RULES).keep == 4
    for name in ("v_proj", "o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
        assert rule_for(f"model.layers.0.{name}.weight", DEFAULT_RULES) == LayerRule("*", 16, 4)


def test_bad_rules_are_user_errors():
    with pytest.raises(UserError, match="keeps one of"):
        LayerRule("*", 3, 4)
    with pytest.raises(UserError, match="INT4 or INT8"):
        LayerRule("*", 4, 6)
    with pytest.raises(UserError, match="no FlightLLM layer rule"):
        rule_for("x.q_proj", [LayerRule("*.k_proj", 4, 4)])


@pytest.mark.parametrize(("keep", "bits", "per_element"),
                         [(4, 4, 4 / 16 * 8 + 16 / 128), (2, 8, 2 / 16 * 12 + 16 / 128),
                          (16, 4, 4 + 16 / 128), (16, 8, 8 + 16 / 128)])
def test_storage_bits(keep, bits, per_element):
    fmt = FlightLlmFormat([LayerRule("*", keep, bits)])
    enc = fmt.encode(_rng().standard_normal((3, 256)).astype(np.float32), Role.WEIGHT, name="w")
    assert enc.bits_per_element() == per_element


def test_padding_counted():
    enc = FLIGHTLLM_W4S.encode(np.ones((2, 130), np.float32), Role.WEIGHT, name="w")
    assert enc.padded == 126 and enc.codes.shape == (2, 256 // BLOCK, 16)


@pytest.mark.parametrize("role", list(Role))
def test_all_zero_tensor_is_safe(role):
    with np.errstate(all="raise"):
        enc = FLIGHTLLM_W4S.encode(np.zeros((3, 40), np.float32), role, name="z")
        assert not FLIGHTLLM_W4S.decode(enc).any()


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_names_the_tensor(role, bad):
    x = np.ones((2, 20), np.float32)
    x[0, 3] = bad
    with pytest.raises(UserError, match="blk.7.q_proj.weight"):
        FLIGHTLLM_W4S.encode(x, role, name="blk.7.q_proj.weight")


# --- golden GEMM ----------------------------------------------------------------------------------

def _check(fmt, x, w):
    xe = fmt.encode(x, Role.ACTIVATION, name="x")
    we = fmt.encode(w, Role.WEIGHT, name="w")
    y = fmt.gemm(xe, we)
    assert y.dtype == np.float32 and y.shape == (x.shape[0], w.shape[0])
    assert np.array_equal(y, reference_gemm(xe, we))  # bit for bit
    return xe, we, y


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 300, 17), (16, 512, 40)])
def test_gemm_matches_reference_random(name, shape):
    fmt = FORMATS[name]
    m, k, n = shape
    rng = _rng(k)
    x = (rng.standard_normal((m, k)) * 3).astype(np.float32)
    w = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
    xe, we, y = _check(fmt, x, w)
    ref = fmt.decode(xe).astype(np.float64) @ fmt.decode(we).astype(np.float64).T
    assert np.allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("name", ["16:16-int8", "2:16-int8", "4:16-int4"])
def test_gemm_matches_reference_adversarial(name):
    fmt = FORMATS[name]
    k = 2 * GROUP
    cases = [
        (np.full((2, k), -1.0, np.float32), np.full((3, k), -1.0, np.float32)),  # max |P|
        (np.zeros((2, k), np.float32), _rng().standard_normal((4, k)).astype(np.float32)),
        (_rng().standard_normal((2, k)).astype(np.float32), np.zeros((4, k), np.float32)),
        (_rng(1).choice([-1e-4, 1e4], (3, k)).astype(np.float32),
         _rng(2).choice([-7.0, 0.0, 1e-6], (5, k)).astype(np.float32)),
    ]
    for x, w in cases:
        assert np.isfinite(_check(fmt, x, w)[2]).all()


def test_max_magnitude_partial_sum_is_exact():
    """INT8 −127 × −127 over a whole dense group: P = 128·16129 = 2 064 512, exact."""
    fmt = FORMATS["16:16-int8"]
    xe = fmt.encode(np.full((1, GROUP), -1.0, np.float32), Role.ACTIVATION, name="x")
    we = fmt.encode(np.full((1, GROUP), -1.0, np.float32), Role.WEIGHT, name="w")
    assert xe.codes.min() == -127 and we.codes.min() == -127
    y = fmt.gemm(xe, we)
    assert y[0, 0] == np.float32(we.scales[0, 0] * np.float32(GROUP * 127 * 127)) * xe.scales[0]


def test_pruned_weights_never_reach_the_chain():
    """Garbage in a pruned position cannot change the result: only kept values are multiplied."""
    fmt = FORMATS["2:16-int8"]
    xe = fmt.encode(_rng().standard_normal((3, GROUP)).astype(np.float32), Role.ACTIVATION,
                    name="x")
    we = fmt.encode(_rng(1).standard_normal((4, GROUP)).astype(np.float32), Role.WEIGHT, name="w")
    dense = fmt.decode(we)
    expected = xe.codes.astype(np.int64) @ np.rint(dense / we.scales[:, :1]).astype(np.int64).T
    y = fmt.gemm(xe, we)
    assert np.array_equal(y, (we.scales[None, :, 0] * expected.astype(np.float32))
                          * xe.scales[:, None])



@pytest.mark.slow
@pytest.mark.parametrize("name", ["16:16-int8", "4:16-int4"])
def test_gemm_matches_reference_real(real_linears, name):
    fmt = FORMATS[name]
    for layer, x, w in real_linears:
        _, _, y = _check(fmt, x, w)
        if name == "16:16-int8":  # dense W8A8: close to the float product
            exact = x.astype(np.float64) @ w.astype(np.float64).T
            assert np.linalg.norm(y - exact) / np.linalg.norm(exact) < 0.05, layer


@pytest.mark.slow
def test_default_format_on_real_layer_names(real_linears):
    for layer, _, w in real_linears:
        enc = FLIGHTLLM_W4S.encode(w, Role.WEIGHT, name=f"{layer}.weight")
        assert enc.meta["keep"] == (4 if layer.endswith(("q_proj", "k_proj")) else 16)


def test_registered():
    assert get_format("flightllm-w4s") is FLIGHTLLM_W4S


def test_fake_quant_seam_applies_layer_rules():
    """Through models.fakequant the module name picks the rule: q_proj pruned 4:16, up_proj dense."""
    import torch

    from models.fakequant import quantized

    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"attn": torch.nn.ModuleDict({"q_proj": torch.nn.Linear(64, 8)}),
                                 "mlp": torch.nn.ModuleDict({"up_proj": torch.nn.Linear(64, 8)})})
    with quantized(model, FLIGHTLLM_W4S):
        q = model["attn"]["q_proj"].qweight.numpy().reshape(8, 4, BLOCK)
        up = model["mlp"]["up_proj"].qweight.numpy()
        assert ((q != 0).sum(axis=2) <= 4).all() and (q != 0).sum() > 0
        assert (up != 0).mean() > 0.8
        x = torch.randn(3, 64)
        xq = FLIGHTLLM_W4S.decode(FLIGHTLLM_W4S.encode(x.numpy(), Role.ACTIVATION, name="x"))
        assert torch.equal(model["mlp"]["up_proj"].quantizer.quantize_input(x), torch.from_numpy(xq))
