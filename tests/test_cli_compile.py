"""`tapeout compile`, `disasm` and `simulate PROGRAM.flb` end to end: files written as one set,
the summary counting what disasm prints, the binary simulating to the summary's cycles, bad
input exiting 2 with nothing written."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    from tapeout.cli import main

    out = tmp_path_factory.mktemp("compile")
    try:
        main(["compile", "smollm2-135m", "--target", "flightllm-u280", "--prefill", "100",
              "--decode-context", "130", "--format", "flightllm-w4s", "-o", str(out), "--json"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    return out


def test_compile_writes_bucket_programs_and_a_summary(compiled, cli):
    import json

    doc = json.loads((compiled / "summary.json").read_text())
    files = sorted(p.name for p in compiled.iterdir())
    assert files == ["smollm2-135m-decode144.flb", "smollm2-135m-prefill128.flb", "summary.json"]
    prefill, decode = doc["programs"]
    assert (prefill["length"], prefill["requested"], decode["length"], decode["requested"]) == (128, 100, 144, 130)
    assert decode["instructions"]["MM"] == 0 and decode["instructions"]["MV"] > 0
    for program in doc["programs"]:
        path = compiled / program["file"]
        assert path.stat().st_size > program["bytes"]                # header + words
        listing = cli("disasm", str(path), "--json").json()
        kinds = [line["kind"] for line in listing["instructions"]]
        assert {k: kinds.count(k) for k in program["instructions"]} == program["instructions"]
        run = cli("simulate", str(path), "--target", "flightllm-u280", "--json").json()
        assert run["cycles"] == program["run"]["cycles"] > 0
        assert run["energy_j"] == pytest.approx(program["run"]["energy_j"])


def test_disasm_prints_names_not_codes(compiled, cli):
    result = cli("disasm", str(compiled / "smollm2-135m-decode144.flb"), "--limit", "12")
    assert result.code == 0
    assert "operation=embedding" in result.stdout and "sparsity=4:16" in result.stdout
    assert "first 12 of" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["compile", "smollm2-135m", "--target", "int8-systolic", "--prefill", "128"], "not a FlightLLM target"),
    (["compile", "smollm2-135m", "--target", "flightllm-u280"], "--prefill P and/or --decode-context L"),
    (["compile", "smollm2-135m", "--target", "flightllm-u280", "--decode-context", "4096"], "from 1 to 2048"),
    (["compile", "no-such-model", "--target", "flightllm-u280", "--prefill", "128"], "no-such-model"),
])
def test_compile_errors_exit_2(cli, tmp_path, args, message):
    result = cli(*args, "-o", str(tmp_path / "out"))
    assert result.code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_simulate_refuses_options_a_program_fixed_and_other_targets(compiled, cli, tmp_path):
    program = str(compiled / "smollm2-135m-decode144.flb")
    result = cli("simulate", program, "--target", "flightllm-u280", "--decode", "4")
    assert result.code == 2 and "--decode" in result.stderr
    result = cli("simulate", program, "--target", "int8-systolic")
    assert result.code == 2 and "not a FlightLLM target" in result.stderr
    bad = tmp_path / "bad.flb"
    bad.write_bytes(b"TPFLISA1\x00")
    result = cli("disasm", str(bad))
    assert result.code == 2 and "truncated" in result.stderr
