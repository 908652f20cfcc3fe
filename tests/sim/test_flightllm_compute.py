"""``flightllm-mpe``: the chains' compute model charges each run the RTL's measured cycles, at
the layer's own N of N:16, and sizes the chain RTL from its ``design:`` section."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from core.errors import UserError
from hw.registry import get_unit, resolve_params
from sim.compute.registry import get_compute_model
from sim.flightllm.tile import csd_chain_run_cycles
from sim.target import load_target
from spec import TARGETS_DIR

CHAINS, LENGTH = 8, 16


def chain_target(tmp_path: Path, edit=lambda doc: None) -> Path:
    """A test target of ``CHAINS`` chains of ``LENGTH`` slices (energy from the 28 nm table: this
    checks cycles and sizing, not FPGA energy)."""
    doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
    doc["name"] = "chains"
    doc["compute"] = {
        "model": "flightllm-mpe", "rows": CHAINS, "cols": LENGTH, "dataflow": "dot-product",
        "accumulator_bits": 32, "sparsity": {"pattern": "n:m", "m": 16, "n": [2, 4, 8, 16]},
        "precisions": {p: {"weight_bits": bits, "act_bits": 8, "macs_per_cycle": 2 * CHAINS * LENGTH,
                           "mac_action": "mac.pe8x4.int8"} for p, bits in (("w4a8", 4), ("int8", 8))}}
    doc["design"] = {"chain_length": LENGTH}
    edit(doc)
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def target(tmp_path):
    return load_target(chain_target(tmp_path))


@pytest.mark.parametrize("m, k, n, density, runs", [
    (2, 256, 4, 0.25, 1),        # one token pair, 4 rows at N = 4: one run
    (2, 256, 8, 0.25, 2),        # two row sets
    (3, 256, 4, 0.25, 2),        # an odd token count still takes a second pair
    (1, 4096, 576, 0.25, 144),   # decode q_proj of SmolLM2 at 4:16: 144 runs, 18 waves
    (16, 200, 64, 1.0, 512),     # dense: one row per run; K padded to 256
    (2, 128, 16, 0.125, 1),      # 2:16: 8 rows per run
])
def test_a_tile_costs_its_runs_times_the_measured_run(target, m, k, n, density, runs):
    model = get_compute_model(target)
    cost = model.matmul((m, k, n), target.compute.precisions["w4a8"], density, True)
    waves = math.ceil(runs / CHAINS)
    assert cost.cycles == waves * csd_chain_run_cycles(LENGTH, math.ceil(k / 128) * 128)
    assert cost.actions["mac.pe8x4.int8"] == pytest.approx(m * k * n * model.keep(density) / 16)


def test_weights_read_with_their_indices_only_when_sparse(target):
    model = get_compute_model(target)
    p = target.compute.precisions["w4a8"]
    sparse = model.matmul((2, 256, 4), p, 0.25, True).actions["sram.weights.read"]
    dense = model.matmul((2, 256, 4), p, 1.0, True).actions["sram.weights.read"]
    assert sparse == 256 * 4 * 0.25 * (4 + 4)
    assert dense == 256 * 4 * 4


def test_a_density_between_choices_runs_at_the_next_n(target):
    model = get_compute_model(target)
    assert [model.keep(d) for d in (0.1, 0.125, 0.2, 0.5, 0.7, 1.0)] == [2, 2, 4, 8, 16, 16]


def test_only_the_targets_own_n_are_used(tmp_path):
    spec = load_target(chain_target(tmp_path, lambda d: d["compute"]["sparsity"].update(n=[4, 16])))
    assert [get_compute_model(spec).keep(d) for d in (0.125, 0.25, 0.5, 1.0)] == [4, 4, 16, 16]


def test_without_sparsity_every_layer_is_dense(tmp_path):
    spec = load_target(chain_target(tmp_path, lambda d: d["compute"].pop("sparsity")))
    assert get_compute_model(spec).keep(0.25) == 16


@pytest.mark.parametrize("edit, key", [
    (lambda d: d["design"].update(chain_length=12), "design.chain_length"),
    (lambda d: d["compute"].update(cols=8), "compute.cols"),
    (lambda d: d["compute"]["sparsity"].update(m=8, n=[2]), "compute.sparsity.m"),
    (lambda d: d["compute"]["precisions"]["int8"].update(macs_per_cycle=100), "macs_per_cycle"),
    (lambda d: d["compute"]["precisions"]["int8"].update(act_bits=16), "compute.precisions.int8"),
    (lambda d: d["compute"].update(accumulator_bits=24), "compute.accumulator_bits"),
    (lambda d: d.pop("design"), "design"),
    (lambda d: (d["design"].update(chain_length=8), d["compute"].update(cols=8)),
     "design.chain_length"),                                    # dense layers need 16 slices
    (lambda d: d["compute"]["sparsity"].update(n=[2, 4]), "compute.sparsity.n"),
])
def test_targets_the_rtl_cannot_build_are_refused_on_load(tmp_path, edit, key):
    with pytest.raises(UserError, match=key):
        load_target(chain_target(tmp_path, edit))


def test_the_chain_rtl_is_sized_by_the_target(tmp_path):
    path = chain_target(tmp_path, lambda d: (d["design"].update(chain_length=32),
                                             d["compute"].update(cols=32),
                                             [p.update(macs_per_cycle=2 * CHAINS * 32)
                                              for p in d["compute"]["precisions"].values()]))
    for name in ("flightllm-chain", "flightllm-chain-psum"):
        assert resolve_params(get_unit(name), str(path)).length == 32
    with pytest.raises(UserError, match="sized by a flightllm-mpe target"):
        resolve_params(get_unit("flightllm-chain"), "int8-systolic")
