"""Target specifications: shipped targets load with the papers' numbers; bad YAML → exit 2."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from core.errors import UserError
from sim.target import load_target
from spec import TARGETS_DIR, target_names, units

BASELINES = {"fp16-systolic", "int8-systolic", "bitfusion", "ant", "olaccel", "adafloat", "gobo",
             "v100s", "a100", "rtx2080ti"}


def test_every_baseline_is_shipped_and_valid():
    assert BASELINES <= set(target_names())
    for name in target_names():
        spec = load_target(name)
        assert spec.name == name
        assert spec.static_watts > 0
        assert spec.bytes_per_cycle > 0


def test_int8_systolic_matches_the_papers():
    spec = load_target("int8-systolic")
    assert (spec.compute.rows, spec.compute.cols) == (32, 32)
    assert spec.clock == 500e6
    b = spec.buffers
    assert (b.weights.size, b.inputs.size, b.outputs.size) == (128 * 1024, 256 * 1024, 128 * 1024)
    assert spec.bytes_per_cycle == 1024 / 8          # 1024-bit interface, efficiency 1
    assert b.weights.tile_bytes == 64 * 1024         # double buffered: half per tile


def test_gpu_roofline_fractions_are_cited():
    for name in ("v100s", "a100", "rtx2080ti"):
        spec = load_target(name)
        assert spec.compute.model == "gpu-roofline"
        assert 0 < spec.memory.efficiency < 1 and spec.memory.efficiency_source
        assert spec.compute.achieved_fraction_source
    assert load_target("v100s").peak_bandwidth == pytest.approx(1134e9)


def _write(tmp_path: Path, edit, base: str = "int8-systolic") -> Path:
    """A copy of the shipped target ``base`` named ``mine``, changed by ``edit``."""
    doc = yaml.safe_load((TARGETS_DIR / f"{base}.yaml").read_text())
    doc["name"] = "mine"
    edit(doc)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


@pytest.mark.parametrize("edit, key, reason", [
    (lambda d: d["compute"].update(colums=32), "compute.colums", "unknown key"),
    (lambda d: d["buffers"]["weights"].update(size="-128 KiB"), "buffers.weights.size", "negative"),
    (lambda d: d.pop("clock"), "clock", "missing field"),
    (lambda d: d.update(clock="500 MB"), "clock", "not a frequency unit"),
    (lambda d: d["memory"].update(bandwidth="64 GHz"), "memory.bandwidth", "not a bandwidth unit"),
    (lambda d: d["buffers"]["inputs"].update(size=262144), "buffers.inputs.size", "no unit"),
    (lambda d: d.update(default_precision="fp16"), "(top level)", "not one of compute.precisions"),
    (lambda d: d["memory"].update(efficiency=1.5), "memory.efficiency", "finite number in (0, 1]"),
])
def test_bad_yaml_names_file_key_and_reason(tmp_path, edit, key, reason):
    path = _write(tmp_path, edit)
    with pytest.raises(UserError) as info:
        load_target(path)
    message = str(info.value)
    assert str(path) in message and key in message and reason in message


def test_energy_table_must_cover_the_actions(tmp_path):
    path = _write(tmp_path, lambda d: d["compute"]["precisions"]["int8"].update(mac_action="mac.nowhere"))
    with pytest.raises(UserError, match="no entry for mac.nowhere"):
        load_target(path)


def test_unknown_target_and_unparsable_yaml(tmp_path):
    with pytest.raises(UserError, match="unknown target 'tpu9'.*int8-systolic"):
        load_target("tpu9")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_target(bad)


def test_cli_exit_2_on_bad_target_file(cli, tmp_path):
    path = _write(tmp_path, lambda d: d["compute"].update(rows=-4))
    result = cli("simulate", "llama2-7b", "--target", str(path), "--prefill", "1", "--decode", "0")
    assert result.code == 2
    assert "compute.rows" in result.stderr and "Traceback" not in result.stderr


def test_targets_command_lists_and_shows(cli):
    listing = cli("targets", "--json").json()
    assert {t["name"] for t in listing["targets"]} >= BASELINES
    shown = cli("targets", "show", "int8-systolic", "--json").json()
    assert shown["target"]["compute"]["rows"] == 32
    entries = shown["energy_table"]["entries"]
    assert entries["dram.read"]["pj"] == 0.63
    assert all(e["source"] and e["node"] for e in entries.values())
    text = cli("targets", "show", "ant")
    assert text.code == 0 and "sfu.op" in text.stdout


def _precision(d: dict) -> dict:
    return d["compute"]["precisions"]["int8"]


# Documents `targets show` used to accept (or explain badly) and `simulate` crashed on.
OUT_OF_RANGE = [
    (lambda d: d.update(clock="1e300 GHz"), "clock", "not a finite number"),
    (lambda d: d.update(clock="1e-300 Hz"), "clock", "out of range: write a value from 1 kHz to 100 GHz"),
    (lambda d: d["memory"].update(bandwidth="0 GB/s"), "memory.bandwidth", "out of range"),
    (lambda d: d["memory"].update(bandwidth="1e300 TB/s"), "memory.bandwidth", "not a finite number"),
    (lambda d: d["memory"].update(bandwidth="0 bit/cycle"), "memory.bandwidth", "from 1 bit/cycle"),
    (lambda d: _precision(d).update(macs_per_cycle=math.inf), "macs_per_cycle", "must be a finite number"),
    (lambda d: _precision(d).update(macs_per_cycle=math.nan), "macs_per_cycle", "must be a finite number"),
    (lambda d: _precision(d).update(macs_per_cycle=1e-300), "macs_per_cycle", "in [0.001, 1e+09]"),
    (lambda d: d["buffers"]["weights"].update(size="1 bit"), "buffers.weights.size", "from 1 B"),
    (lambda d: d["buffers"]["inputs"].update(size="4 bit"), "buffers.inputs.size", "from 1 B"),
    (lambda d: d["vector"]["ops_per_element"].update(softmax=math.nan), "vector.ops_per_element.softmax",
     "must be a finite number in [0, 1000]"),
    (lambda d: d["vector"]["ops_per_element"].update(softmax=math.inf), "vector.ops_per_element.softmax",
     "must be a finite number"),
    (lambda d: d["compute"].update(sparsity={"pattern": "n:m", "m": 4, "n": [8]}), "compute.sparsity",
     "every n must be from 1 to m = 4"),
    (lambda d: d["compute"].update(sparsity={"pattern": "n:m", "m": 4, "n": [0]}), "compute.sparsity",
     "every n must be from 1 to m = 4"),
    (lambda d: d["compute"].update(model="no-such-model"), "compute.model",
     "unknown compute model 'no-such-model'; known: "),
    (lambda d: d["memory"].update(efficiency=math.nan), "memory.efficiency", "must be a finite number in (0, 1]"),
    (lambda d: d.update(energy="../../hw/targets/int8-systolic"), "energy", "unknown energy table"),
    (lambda d: d["compute"].update(rows=10**30), "compute.rows", "less than or equal to 4096"),
    (lambda d: d["compute"].update(cols=100_000), "compute.cols", "less than or equal to 4096"),
    (lambda d: d["static_power"][0].update(power="1e306 kW"), "static_power.0.power", "not a finite number"),
    (lambda d: d.update(price={"usd": math.nan, "source": "s"}), "price.usd", "must be a finite number"),
]


@pytest.mark.parametrize("edit, key, reason", OUT_OF_RANGE)
def test_out_of_range_numbers_exit_2_naming_file_key_and_reason(cli, tmp_path, edit, key, reason):
    path = _write(tmp_path, edit)
    result = cli("targets", "show", str(path))
    assert result.code == 2, result.stdout
    assert str(path) in result.stderr and f"{key}:" in result.stderr and reason in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("text, line, key", [
    ("clock: 1 MHz\n", 0, "clock"),                                        # appended at the end
    ("  rows: 16\n", None, "rows"),                                         # inside compute
])
def test_duplicate_keys_exit_2_with_key_and_line(cli, tmp_path, text, line, key):
    lines = (TARGETS_DIR / "int8-systolic.yaml").read_text().splitlines(keepends=True)
    at = len(lines) if line == 0 else next(i for i, t in enumerate(lines) if t.startswith("  cols:"))
    lines.insert(at, text)
    first = next(i for i, t in enumerate(lines) if t.lstrip().startswith(f"{key}:")) + 1
    path = tmp_path / "dup.yaml"
    path.write_text("".join(lines))
    result = cli("targets", "show", str(path))
    assert result.code == 2
    assert (f"{path}: line {at + 1}: duplicate key '{key}' (first given on line {first})"
            in result.stderr)
    assert "Traceback" not in result.stderr


def test_quantities_are_finite_after_scaling():
    with pytest.raises(ValueError, match="not a finite number"):
        units.size_bytes("1e300 TB")
    with pytest.raises(ValueError, match="out of range: write a value from 1 kHz to 100 GHz"):
        units.bounded(units.frequency_hz, "1 kHz", "100 GHz")("0.5 kHz")


def test_buffers_too_small_for_one_tile_exit_2(cli, tmp_path):
    """1 B double-buffered leaves 0 B per tile: the mapper's error is a UserError, not a crash."""
    def edit(d):
        d["buffers"]["weights"]["size"] = "1 B"

    path = _write(tmp_path, edit)
    csv = tmp_path / "layers.csv"
    csv.write_text("Layer,M,N,K\nfc1,64,64,64\n")
    result = cli("simulate", str(csv), "--target", str(path), "-o", str(tmp_path / "out"))
    assert result.code == 2
    assert "no tile of" in result.stderr and "buffers.weights 0 B" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", target_names())
def test_every_shipped_target_shows(cli, name):
    result = cli("targets", "show", name, "--json")
    assert result.code == 0, result.stderr
    assert result.json()["target"]["name"] == name


def _ovp(d: dict, name: str) -> dict:
    return d["compute"]["precisions"][name]


# Design rules of the OliVe array, checked by its compute model when the target is loaded —
# before any simulation, and the same for `targets show`, `simulate` and the RTL generators.
OLIVE_RULES = [
    (lambda d: d["compute"].update(rows=31), "compute", "even number (≥ 2) of rows and columns"),
    (lambda d: _ovp(d, "ovp4").update(macs_per_cycle=3000), "compute.precisions.ovp4.macs_per_cycle",
     "OVP-4 mode completes 4096 MACs per cycle"),
    (lambda d: _ovp(d, "ovp8").update(macs_per_cycle=4096), "compute.precisions.ovp8.macs_per_cycle",
     "OVP-8 mode completes 1024 MACs per cycle"),
    (lambda d: d["design"]["modes"].update(ovp8=4), "compute.precisions.ovp8", "OVP-4 mode takes 4-bit"),
    (lambda d: d["design"]["modes"].pop("ovp8"), "design.modes", "no mode for precision 'ovp8'"),
    (lambda d: d["design"]["modes"].update(ovp16=8), "design.modes", "ovp16 is not one of compute.precisions"),
    (lambda d: d["design"]["modes"].update(ovp8=6), "design.modes.ovp8", "Input should be 4 or 8"),
    (lambda d: d["design"].update(lanes=4), "design.lanes", "unknown key"),
    (lambda d: d.update(design={"modez": {"ovp4": 4, "ovp8": 8}}), "design.modez", "unknown key"),
    (lambda d: d.pop("design"), "design.modes", "missing field"),
    (lambda d: d["compute"].update(accumulator_bits=24), "compute.accumulator_bits", "32 to 63 bits"),
    (lambda d: d["compute"].update(dataflow="weight-stationary"), "compute.dataflow",
     "'olive-systolic' is output-stationary"),
    (lambda d: d["compute"].update(sparsity={"pattern": "n:m", "m": 16, "n": [4]}), "compute.sparsity",
     "no N:M sparsity"),
]


@pytest.mark.parametrize("edit, key, reason", OLIVE_RULES)
def test_olive_design_rules_are_checked_on_load(cli, tmp_path, edit, key, reason):
    path = _write(tmp_path, edit, "olive-systolic")
    for args in (("targets", "show", str(path)),
                 ("simulate", "bert-base", "--target", str(path), "--prefill", "1", "--decode", "0",
                  "-o", str(tmp_path / "out"))):
        result = cli(*args)
        assert result.code == 2, result.stdout
        assert f"{path}: {key}: " in result.stderr and reason in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_design_section_needs_a_model_that_takes_one(tmp_path):
    path = _write(tmp_path, lambda d: d.update(design={"modes": {"int8": 8}}))
    with pytest.raises(UserError, match="design: compute model 'systolic-os' takes no design parameters"):
        load_target(path)


def test_compute_models_own_their_dataflow(tmp_path):
    path = _write(tmp_path, lambda d: d["compute"].update(dataflow="roofline"))
    with pytest.raises(UserError, match="compute.dataflow: compute model 'systolic-os' is output-stationary"):
        load_target(path)


def _mixpe(d: dict, name: str) -> dict:
    return d["compute"]["precisions"][name]


# Design rules of the MixPE array (sim/mixpe/design.py), checked when the target is loaded.
MIXPE_RULES = [
    (lambda d: d["design"].update(partial_sum_bits=18), "design.partial_sum_bits",
     "18 bits cannot hold the sums of a group of 128 (need 19)"),
    (lambda d: d["design"].pop("group_sum_bits"), "design.group_sum_bits", "15 bits hold a group of 128"),
    (lambda d: d["design"].update(group=64), "design.group", "groups of 128"),
    (lambda d: d["design"].update(activation="int4"), "design.activation", "'int8' or 'fp16'"),
    (lambda d: d["compute"].update(rows=256, cols=256), "compute", "group must last at least rows = 256"),
    (lambda d: _mixpe(d, "w4a8").update(macs_per_cycle=16384), "compute.precisions.w4a8.macs_per_cycle",
     "completes 4096 W4A8 MACs per cycle"),
    (lambda d: _mixpe(d, "int8").update(macs_per_cycle=4096), "compute.precisions.int8.macs_per_cycle",
     "completes 2048 W8A8 MACs per cycle"),
    (lambda d: _mixpe(d, "w4a8").update(act_bits=16), "compute.precisions.w4a8", "runs W4A8 (native)"),
    (lambda d: d["compute"].update(accumulator_bits=24), "compute.accumulator_bits", "FP32 (32 bits)"),
    (lambda d: d["compute"].update(sparsity={"pattern": "n:m", "m": 16, "n": [4]}), "compute.sparsity",
     "no N:M sparsity"),
]


@pytest.mark.parametrize("edit, key, reason", MIXPE_RULES)
def test_mixpe_design_rules_are_checked_on_load(tmp_path, edit, key, reason):
    from core.errors import UserError
    from sim.target import load_target

    path = _write(tmp_path, edit, "mixpe-w4a8")
    with pytest.raises(UserError) as err:
        load_target(str(path))
    assert f"{path}: {key}: " in str(err.value) and reason in str(err.value), str(err.value)


def test_mixpe_w4a16_has_no_integer_sum_widths(tmp_path):
    from core.errors import UserError
    from sim.target import load_target

    path = _write(tmp_path, lambda d: d["design"].update(partial_sum_bits=19), "mixpe-w4a16")
    with pytest.raises(UserError, match="design.partial_sum_bits: the W4A16 PE keeps its sums in FP32"):
        load_target(str(path))
