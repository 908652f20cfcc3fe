"""Target specifications: shipped targets load with the papers' numbers; bad YAML → exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hw.spec import TARGETS_DIR, load_target, target_names
from tapeout.errors import UserError

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


def _write(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
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
    (lambda d: d["memory"].update(efficiency=1.5), "memory.efficiency", "less than or equal to 1"),
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
