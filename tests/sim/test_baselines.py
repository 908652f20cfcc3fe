"""The baselines' own costs: OLAccel's outlier path, GOBO's lookups and FP32 outlier path (on its
accelerator and on the GPU), AdaFloat's iso-area array and MAC energy. Each test fails if that
cost is removed (the baseline would fall back to the plain array formula) or its sizing undone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from core.errors import UserError
from models.trace.tracer import trace_model
from sim.compute.outliers import extra_steps_per_step, outlier_fraction
from sim.compute.registry import get_compute_model
from sim.compute.roofline import GpuRoofline
from sim.compute.systolic import SystolicOutputStationary
from sim.energy.table import load_table
from sim.formats import get_format
from sim.simulate import simulate
from sim.target import load_target, parse_target
from spec import TARGETS_DIR


@pytest.fixture(scope="module")
def small_trace():
    return trace_model("smollm2-135m", 32, 0, batch=2)[0]


def _doc(name: str) -> dict:
    return yaml.safe_load((TARGETS_DIR / f"{name}.yaml").read_text())


def _without_path(name: str, model: str):
    """Target ``name`` as the plain ``model`` array (no ``design:``): the baseline without its
    own costs."""
    doc = _doc(name)
    doc["compute"]["model"] = model
    del doc["design"]
    return parse_target(doc, f"{name} as {model}")


def _variant(name: str, **design) -> object:
    """Target ``name`` with some ``design:`` keys changed, checked like a file."""
    doc = _doc(name)
    doc["design"].update(design)
    return parse_target(doc, f"{name} variant")


# --- shared: outlier fractions and the lane-group stall -------------------------------------------

def test_outlier_fractions_come_from_the_formats():
    """OLAccel keeps ≤ 3 % of weights and activations on its list, GOBO ≈ 0.3 % of weights (3σ
    of a Gaussian) and none of its FP16 activations."""
    assert 0.025 < outlier_fraction("olaccel-w4a4", "weight") <= 0.03
    assert 0.025 < outlier_fraction("olaccel-w4a4", "activation") <= 0.03
    assert 0.001 < outlier_fraction("gobo-w4", "weight") < 0.005
    assert outlier_fraction("gobo-w4", "activation") == 0
    assert outlier_fraction("int8", "weight") == 0
    enc = get_format("olaccel-w4a4").encode(np.random.default_rng(1).standard_normal((32, 256)), "weight")
    assert enc.meta["outlier_fraction"] == enc.meta["outliers"] / (32 * 256)


def test_lane_group_stall_matches_a_simulated_binomial():
    rng = np.random.default_rng(0)
    for group, p in [(16, 0.03), (8, 0.1), (4, 0.5)]:
        hits = rng.binomial(group, p, size=400_000)
        assert extra_steps_per_step(group, p) == pytest.approx(np.maximum(hits - 1, 0).mean(), rel=0.03)
    assert extra_steps_per_step(16, 0.0) == 0
    assert extra_steps_per_step(1, 0.4) == pytest.approx(0)      # one lane, one extra MAC: never stalls
    assert extra_steps_per_step(16, 1.0) == pytest.approx(15)
    with pytest.raises(ValueError):
        extra_steps_per_step(16, 1.5)


# --- OLAccel ----------------------------------------------------------------------------------------

def test_olaccel_is_the_iso_area_16x18_array():
    """ANT/OliVe simulator's conf_olaccel.ini: 16 × 18 8/4-bit PEs = 1152 4-bit lanes."""
    t = load_target("olaccel")
    assert (t.compute.rows, t.compute.cols) == (16, 18)
    assert t.compute.precisions["int4"].macs_per_cycle == 16 * 18 * 4
    assert t.compute.precisions["int8"].macs_per_cycle == 16 * 18


def test_olaccel_outlier_weights_stall_the_lanes():
    t = load_target("olaccel")
    model, plain = get_compute_model(t), SystolicOutputStationary(_without_path(t.name, "systolic-os"))
    int4 = t.compute.precisions["int4"]
    m, k, n = 64, 4096, 72
    p_w, p_a = outlier_fraction("olaccel-w4a4", "weight"), outlier_fraction("olaccel-w4a4", "activation")
    stall = extra_steps_per_step(16, p_w)
    cost = model.matmul((m, k, n), int4, 1.0, True)
    folds = math.ceil(m / 16) * math.ceil(n / 18)
    assert cost.cycles == folds * (math.ceil(1024 * (1 + stall)) + 16 + 18 - 2)
    base = plain.matmul((m, k, n), int4, 1.0, True)
    assert cost.cycles > base.cycles * 1.05                    # ≈ 9 % more streaming steps
    assert cost.actions["mac.pe8x4.int4"] == base.actions["mac.pe8x4.int4"] == m * k * n
    assert cost.actions["mac.olaccel.outlier"] == pytest.approx((p_w + p_a) * m * k * n)
    entry = 8 + 12                                             # int8 value + column index of k = 4096
    assert cost.actions["sram.weights.read"] == pytest.approx(
        base.actions["sram.weights.read"] + p_w * k * n * entry * math.ceil(m / 16))
    assert cost.actions["sram.inputs.read"] == pytest.approx(
        base.actions["sram.inputs.read"] + p_a * m * k * entry * math.ceil(n / 18))


def test_olaccel_outlier_activations_bind_when_their_macs_are_few():
    t = _variant("olaccel", activation_outlier_macs=4)
    p_a = outlier_fraction("olaccel-w4a4", "activation")
    m, k, n = 64, 1024, 72
    cost = get_compute_model(t).matmul((m, k, n), t.compute.precisions["int4"], 1.0, True)
    assert cost.cycles == math.ceil(p_a * m * k * n / 4)
    assert cost.cycles > get_compute_model(load_target("olaccel")).matmul(
        (m, k, n), t.compute.precisions["int4"], 1.0, True).cycles


def test_olaccel_8bit_mode_has_no_outlier_path():
    t = load_target("olaccel")
    int8 = t.compute.precisions["int8"]
    assert get_compute_model(t).matmul((64, 512, 72), int8, 1.0, True) == \
        SystolicOutputStationary(_without_path(t.name, "systolic-os")).matmul((64, 512, 72), int8, 1.0, True)


def test_olaccel_simulated_prefill_pays_for_its_outliers(small_trace):
    t = load_target("olaccel")
    with_path = simulate(small_trace, t, "olaccel-w4a4")
    assert with_path.actions["mac.olaccel.outlier"] > 0
    plain = simulate(small_trace, _without_path("olaccel", "systolic-os"), "olaccel-w4a4")
    assert with_path.cycles > plain.cycles * 1.03 and with_path.energy_joules > plain.energy_joules


@pytest.mark.parametrize("design, message", [
    ({"outlier_precision": "int2"}, "design.outlier_precision: 'int2' is not one of"),
    ({"lane_group": 7}, "design.lane_group: the 1152 lanes of int4 do not split into groups of 7"),
    ({"outlier_format": "olaccel-w9"}, "design.outlier_format: unknown format 'olaccel-w9'"),
    ({"activation_outlier_macs": 0}, "design.activation_outlier_macs"),
])
def test_olaccel_design_problems_name_the_key(design, message):
    with pytest.raises(UserError, match=message):
        _variant("olaccel", **design)


# --- GOBO -------------------------------------------------------------------------------------------

def test_gobo_accelerator_looks_up_every_weight_and_runs_outliers_in_fp32():
    t = load_target("gobo")
    model, plain = get_compute_model(t), SystolicOutputStationary(_without_path(t.name, "systolic-os"))
    w4 = t.compute.precisions["w4a16"]
    p = outlier_fraction("gobo-w4", "weight")
    m, k, n = 64, 1024, 56
    cost, base = model.matmul((m, k, n), w4, 1.0, True), plain.matmul((m, k, n), w4, 1.0, True)
    assert cost.cycles == base.cycles                        # 14 outlier PEs keep pace at ≈ 0.3 %
    assert cost.actions["gobo.lookup"] == k * n * math.ceil(m / 32)
    assert cost.actions["mac.gobo.outlier"] == pytest.approx(p * m * k * n)
    assert cost.actions["sram.weights.read"] == pytest.approx(
        base.actions["sram.weights.read"] + p * k * n * 64 * math.ceil(m / 32))   # FP32 value + int32 position
    # FP16 operands (attention, LM head) have no centroid table
    fp16 = t.compute.precisions["fp16"]
    assert model.matmul((m, k, n), fp16, 1.0, True) == plain.matmul((m, k, n), fp16, 1.0, True)


def test_gobo_outlier_pes_bind_when_shared_by_the_whole_array():
    t = _variant("gobo", outlier_share=32 * 28)                 # one outlier PE
    p = outlier_fraction("gobo-w4", "weight")
    m, k, n = 256, 4096, 112
    cost = get_compute_model(t).matmul((m, k, n), t.compute.precisions["w4a16"], 1.0, True)
    assert cost.cycles == math.ceil(p * m * k * n)


def test_gobo_energy_is_its_fp16_array_plus_lookups_and_outliers(small_trace):
    """Same cycles as the plain FP16 array (the outlier PEs keep pace), and exactly the priced
    lookups, outlier MACs and list reads more energy (≈ 0.3 % here: the FP16 MACs dominate)."""
    t = load_target("gobo")
    table = load_table(t.energy)
    gobo = simulate(small_trace, t, "gobo-w4")
    plain = simulate(small_trace, _without_path("gobo", "systolic-os"), "gobo-w4")
    assert gobo.cycles == plain.cycles
    extra = {a: gobo.actions[a] - plain.actions.get(a, 0) for a in gobo.actions}
    assert extra["gobo.lookup"] > 0 and extra["mac.gobo.outlier"] > 0 and extra["sram.weights.read"] > 0
    priced = sum(count * table.pj(a) for a, count in extra.items()) * 1e-12
    assert gobo.energy_joules - plain.energy_joules == pytest.approx(priced, rel=1e-6)
    assert priced > 0.001 * plain.energy_joules


def test_gobo_gpu_dequantizes_on_the_cuda_cores_and_adds_an_outlier_pass():
    t = load_target("gobo-gpu")
    model, plain = get_compute_model(t), GpuRoofline(_without_path(t.name, "gpu-roofline"))
    w4 = t.compute.precisions["w4a16"]
    p = outlier_fraction("gobo-w4", "weight")
    m, k, n = 8192, 4096, 4096
    base = plain.matmul((m, k, n), w4, 1.0, True)
    dequant = math.ceil(64 * k * n * 3 / 4352)                 # 8192 / 128 thread blocks read each weight
    outliers = math.ceil(p * m * k * n / 4352)
    assert model.matmul((m, k, n), w4, 1.0, True).cycles == base.cycles + dequant + outliers
    assert dequant > 0.1 * base.cycles                         # the lookup is not free at batch 64 × 128
    fp16 = t.compute.precisions["fp16"]
    assert model.matmul((m, k, n), fp16, 1.0, True) == plain.matmul((m, k, n), fp16, 1.0, True)


def test_gobo_gpu_dequantization_does_not_depend_on_the_m_split():
    """Each 128-row thread block dequantizes once: a GEMM split into M tiles of any height (the
    mapper's are multiples of the 68 SMs) costs what the whole GEMM does, up to rounding."""
    t = load_target("gobo-gpu")
    model, w4 = get_compute_model(t), t.compute.precisions["w4a16"]
    k, n = 4096, 4096
    whole = model.matmul((8192, k, n), w4, 1.0, True).cycles
    for tm in (68, 136, 272, 1000):
        tiles = [min(tm, 8192 - i) for i in range(0, 8192, tm)]
        split = sum(model.matmul((rows, k, n), w4, 1.0, True).cycles for rows in tiles)
        assert abs(split - whole) <= 3 * len(tiles), tm


def test_gobo_needs_a_format_with_weight_outliers():
    with pytest.raises(UserError, match="design.outlier_format: int8 keeps no weight outliers"):
        _variant("gobo-gpu", outlier_format="int8")
    with pytest.raises(UserError, match="design.outlier_share: 896 PEs cannot share"):
        _variant("gobo", outlier_share=1000)


@pytest.mark.parametrize("fmt", ["int8", "olive-w4a4", "gobo-w4"])
def test_olaccel_needs_a_format_with_weight_and_activation_outliers(fmt):
    with pytest.raises(UserError, match=f"design.outlier_format: {fmt} does not keep both"):
        _variant("olaccel", outlier_format=fmt)




# --- AdaFloat ---------------------------------------------------------------------------------------

def test_adafloat_is_iso_area_with_the_int8_array():
    """An AdaptivFloat PE is 1.14× an INT8 PE (DAC 2020): the ANT/OliVe simulator's 32 × 28 = 896
    PEs cover the area of 1024 INT8 PEs within 1 %."""
    ada, int8 = load_target("adafloat"), load_target("int8-systolic")
    pes = ada.compute.rows * ada.compute.cols
    assert pes == 896
    assert pes * 1.14 == pytest.approx(int8.compute.rows * int8.compute.cols, rel=0.01)
    assert ada.compute.precisions["fp8"].macs_per_cycle == pes


def test_adafloat_charges_its_own_mac_energy():
    table = load_table("ant-cacti-28nm")
    assert load_target("adafloat").compute.precisions["fp8"].mac_action == "mac.adafloat8"
    assert table.pj("mac.adafloat8") == pytest.approx(0.9 * table.pj("mac.pe8x4.int8"))


def test_adafloat_is_not_int8_under_another_name(small_trace):
    ada = simulate(small_trace, load_target("adafloat"), "adafloat-w8a8")
    int8 = simulate(small_trace, load_target("int8-systolic"), "int8")
    assert ada.cycles > 1.05 * int8.cycles                     # 896 PEs instead of 1024
    assert ada.actions["mac.adafloat8"] == int8.actions["mac.pe8x4.int8"] > 0   # the same MACs, priced 0.9×
    assert ada.energy_joules != pytest.approx(int8.energy_joules, rel=1e-3)
