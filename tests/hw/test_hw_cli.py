"""`tapeout verilog / verify / synth` through the CLI fixture."""

from __future__ import annotations

import json

import pytest
import yaml

from hw.olive.designs import elaborate, resolve_params
from hw.verilator import fst_support_problem, lint
from spec import TARGETS_DIR


def test_verilog_writes_verilog_and_ports_json(cli, tmp_path):
    result = cli("verilog", "olive-decoder", "-o", str(tmp_path), "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["top"] == "olive_decoder_b4"
    text = (tmp_path / "olive_decoder_b4.v").read_text()
    assert "module olive_decoder_b4" in text
    ports = {p["name"]: p for p in json.loads((tmp_path / "olive_decoder_b4.json").read_text())["ports"]}
    assert ports["code"] == {"name": "code", "direction": "in", "width": 8, "signed": False}
    assert ports["value"]["width"] == 2 * (3 + 4) and ports["value"]["direction"] == "out"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_verilog_array_is_sized_by_target(cli, tmp_path):
    result = cli("verilog", "olive-array", "--target", "int8-systolic", "-o", str(tmp_path), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["parameters"] == {"design": "olive-array", "bits": [4, 8], "rows": 32, "cols": 32}
    assert (tmp_path / "olive_array_32x32.v").exists()


@pytest.mark.parametrize("command", ["verilog", "verify", "synth"])
def test_unknown_design_exits_2_listing_designs(cli, tmp_path, command):
    args = [command, "olive-nope"] + (["-o", str(tmp_path)] if command == "verilog" else [])
    result = cli(*args)
    assert result.code == 2
    assert "olive-encoder" in result.stderr and "olive-array" in result.stderr
    assert not any(tmp_path.iterdir())


def test_bad_bits_exits_2(cli, tmp_path):
    result = cli("verilog", "olive-pe", "--bits", "6", "-o", str(tmp_path))
    assert result.code == 2 and "--bits" in result.stderr


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("design", ["olive-encoder", "olive-decoder", "olive-pe"])
def test_generated_verilog_is_lint_clean_with_documented_waivers(design, bits):
    assert lint(elaborate(design, resolve_params(design, bits=bits))) == []


def test_synth_reports_nand2_equivalents_beside_paper(cli):
    result = cli("synth", "olive-decoder", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["nand2_equivalents"] == doc["transistors"] / 4 > 0
    assert set(doc["cells"]) <= {"$_NAND_", "$_NOR_", "$_NOT_"}  # combinational only
    assert doc["paper"]["area_um2"] == 13.53


@pytest.mark.slow
def test_array_verilog_is_lint_clean():
    assert lint(elaborate("olive-array", resolve_params("olive-array"))) == []


@pytest.mark.slow
@pytest.mark.skipif(fst_support_problem() is not None, reason="no lz4/zlib headers for FST")
def test_verify_json_and_waves(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("verify", "olive-array", "--vectors", "4", "--waves", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert {"design", "vectors", "mismatches", "cycles_measured", "cycles_predicted"} <= set(doc)
    assert doc["design"] == "olive-array" and doc["vectors"] == 4 and doc["mismatches"] == 0
    assert doc["cycles_measured"] == doc["cycles_predicted"] == 32 + 8 + 8
    wave = tmp_path / "olive_array_8x8.fst"
    assert wave.exists() and wave.stat().st_size > 0


@pytest.mark.slow
def test_verify_prints_table(cli):
    result = cli("verify", "olive-decoder", "--vectors", "600")
    assert result.code == 0, result.stderr
    assert "mismatches" in result.stdout and "PASS" in result.stdout


def test_array_larger_than_the_generator_builds_exits_2(cli, tmp_path):
    doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
    doc["name"], doc["compute"]["rows"], doc["compute"]["cols"] = "huge", 256, 256
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = cli("verilog", "olive-array", "--target", str(path), "-o", str(tmp_path / "rtl"))
    assert result.code == 2 and "256 × 256" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "rtl").exists()
