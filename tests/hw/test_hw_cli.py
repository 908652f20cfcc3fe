"""`tapeout verilog / verify / synth` through the CLI fixture."""

from __future__ import annotations

import json

import pytest
import yaml

from hw.registry import elaborate, get_unit, resolve_params
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
    assert result.json()["parameters"] == {"unit": "olive-array", "rows": 32, "cols": 32,
                                           "accumulator_bits": 32}
    assert (tmp_path / "olive_array_32x32.v").exists()


@pytest.mark.parametrize("command", ["verilog", "verify", "synth"])
def test_unknown_unit_exits_2_listing_units(cli, tmp_path, command):
    args = [command, "olive-nope"] + (["-o", str(tmp_path)] if command == "verilog" else [])
    result = cli(*args)
    assert result.code == 2
    assert "olive-encoder" in result.stderr and "olive-array" in result.stderr
    assert not any(tmp_path.iterdir())


def test_bad_bits_exits_2(cli, tmp_path):
    result = cli("verilog", "olive-pe", "--bits", "6", "-o", str(tmp_path))
    assert result.code == 2 and "bits must be 4 or 8" in result.stderr


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("name", ["olive-encoder", "olive-decoder", "olive-pe"])
def test_generated_verilog_is_lint_clean_with_documented_waivers(name, bits):
    unit = get_unit(name)
    assert lint(elaborate(unit, resolve_params(unit, options={"bits": str(bits)}))) == []


def test_synth_reports_nand2_equivalents_beside_paper(cli):
    result = cli("synth", "olive-decoder", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["nand2_equivalents"] == doc["transistors"] / 4 > 0
    assert set(doc["cells"]) <= {"$_NAND_", "$_NOR_", "$_NOT_"}  # combinational only
    assert doc["published"]["area_um2"] == 13.53
    assert doc["published"]["implied_um2_per_nand2"] == round(13.53 / doc["nand2_equivalents"], 4)


@pytest.mark.slow
def test_array_verilog_is_lint_clean():
    unit = get_unit("olive-array")
    assert lint(elaborate(unit, resolve_params(unit))) == []


@pytest.mark.slow
@pytest.mark.skipif(fst_support_problem() is not None, reason="no lz4/zlib headers for FST")
def test_verify_json_and_waves(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("verify", "olive-array", "--vectors", "4", "--waves", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert {"unit", "vectors", "mismatches", "cycles_measured", "cycles_predicted"} <= set(doc)
    assert doc["unit"] == "olive-array" and doc["vectors"] == 4 and doc["mismatches"] == 0
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


def test_units_command_lists_the_registry(cli):
    import importlib.util

    from hw.registry import units

    listed = cli("units", "--json").json()["units"]
    assert [u["unit"] for u in listed] == list(units())
    for u in listed:
        assert importlib.util.find_spec(u["bench"]) is not None, u["bench"]
        assert u["default_vectors"] > 0 and u["params"]
    array = next(u for u in listed if u["unit"] == "olive-array")
    assert array["measures_cycles"] and array["params"]["k"] == 64


@pytest.mark.parametrize("args, message", [
    (["-p", "nope=1"], "unit olive-array has no parameter 'nope' (its parameters: rows, cols"),
    (["-p", "rows=eight"], "parameter rows takes an integer, got 'eight'"),
    (["-p", "rows"], "--param takes KEY=VALUE, got 'rows'"),
    (["-p", "rows=6", "-p", "cols=7"], "even number (≥ 2) of rows and columns"),
    (["-p", "k=63"], "k (elements per bench tile) must be even"),
    (["-p", "accumulator_bits=16"], "accumulator must be 32 to 63 bits"),
    (["-p", "rows=64", "-p", "cols=64"], "result port would be 131,072 bits"),
    (["-p", "rows=130", "-p", "cols=2"], "at most 128 per side"),
    (["--bits", "8", "-p", "bits=8"], "--bits or --param bits=, not both"),
])
def test_bad_unit_parameters_exit_2(cli, tmp_path, args, message):
    result = cli("verilog", "olive-array", *args, "-o", str(tmp_path / "rtl"))
    assert result.code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "rtl").exists()


def test_target_for_a_unit_no_target_sizes_exits_2(cli, tmp_path):
    result = cli("verilog", "olive-pe", "--target", "int8-systolic", "-o", str(tmp_path / "rtl"))
    assert result.code == 2 and "takes nothing from a target" in result.stderr
    assert not (tmp_path / "rtl").exists()


def test_target_accumulator_bits_reach_the_rtl(cli, tmp_path):
    doc = yaml.safe_load((TARGETS_DIR / "int8-systolic.yaml").read_text())
    doc["name"], doc["compute"]["rows"], doc["compute"]["cols"] = "wide-acc", 4, 6
    doc["compute"]["accumulator_bits"] = 40
    path = tmp_path / "wide-acc.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = cli("verilog", "olive-array", "--target", str(path), "-o", str(tmp_path / "rtl"), "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["top"] == "olive_array_4x6_acc40" and doc["parameters"]["accumulator_bits"] == 40
    ports = {p["name"]: p for p in doc["ports"]}
    assert ports["result"]["width"] == 40 * 4 * 6


@pytest.mark.slow
def test_synth_reports_the_share_of_its_parts(cli):
    result = cli("synth", "olive-array", "-p", "rows=2", "-p", "cols=2", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    ovp4, ovp8 = doc["parts"]["OVP-4 edge decoders"], doc["parts"]["OVP-8 edge decoders"]
    assert (ovp4["count"], ovp8["count"]) == (4, 2)
    assert (ovp4["published_percent"], ovp8["published_percent"]) == (2.2, 1.5)
    for part in (ovp4, ovp8):
        assert part["percent"] == round(100 * part["count"] * part["nand2_equivalents_each"]
                                        / doc["nand2_equivalents"], 2) > 0
