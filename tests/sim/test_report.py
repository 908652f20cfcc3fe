"""`tapeout simulate` / `tapeout compare`: report schema, byte-identical reruns, inputs, errors."""

from __future__ import annotations

import json

import pytest

from models.trace import io as trace_io
from models.trace.tracer import trace_model

OP_FIELDS = {"name", "kind", "phase", "layer", "m", "k", "n", "cycles", "compute_cycles",
             "stall_cycles", "bytes_offchip", "energy_pj"}
TOTALS = {"cycles", "seconds", "prefill_seconds", "decode_seconds_per_token", "tokens_per_second",
          "energy_joules", "energy_per_token_joules", "average_power_watts"}


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "s.trace.json.gz"
    trace, _ = trace_model("smollm2-135m", 16, 3)
    trace_io.save(trace, path)
    return path, trace


def test_report_schema_and_byte_identical_rerun(cli, tmp_path, trace_file):
    path, trace = trace_file
    first = cli("simulate", str(path), "--target", "int8-systolic", "-o", str(tmp_path / "a"), "--json")
    assert first.code == 0, first.stderr
    doc = first.json()
    assert (tmp_path / "a" / "report.json").read_text() == first.stdout
    assert TOTALS <= set(doc["totals"])
    assert len(doc["ops"]) == len(trace.ops)
    for op, entry in zip(trace.ops, doc["ops"], strict=True):
        assert OP_FIELDS <= set(entry)
        assert (entry["name"], entry["kind"], entry["m"]) == (op.name, op.kind.value, op.m)
        assert entry["cycles"] == entry["compute_cycles"] + entry["stall_cycles"]
    t = doc["totals"]
    assert t["cycles"] == sum(e["cycles"] for e in doc["ops"])
    assert t["energy_joules"] == pytest.approx(sum(e["energy_pj"] for e in doc["ops"]) * 1e-12, rel=1e-5)
    assert t["decode_seconds_per_token"] == pytest.approx(
        sum(e["cycles"] for e in doc["ops"] if e["phase"] == "decode") / 3 / 500e6, rel=1e-5)
    assert t["average_power_watts"] == pytest.approx(t["energy_joules"] / t["seconds"], rel=1e-4)
    for key in ("kind", "layer", "memory"):
        assert doc["breakdown"][key]
    assert {"dram", "sram.weights", "sram.inputs", "sram.outputs", "compute", "static"} <= set(doc["breakdown"]["memory"])
    assert all(e["source"] and e["node"] for e in doc["energy_table"]["entries"].values())
    for name in ("report.md", "latency.png", "energy.png", "roofline.png"):
        assert (tmp_path / "a" / name).stat().st_size > 1000
    again = cli("simulate", str(path), "--target", "int8-systolic", "-o", str(tmp_path / "b"))
    assert again.code == 0
    for name in ("report.json", "report.md", "latency.png", "energy.png", "roofline.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_scalesim_topology_csv(cli, tmp_path):
    csv = tmp_path / "gemms.csv"
    csv.write_text("Layer, M, N, K,\nfc1, 64, 128, 512,\nfc2, 1, 4096, 1024,\n")
    result = cli("simulate", str(csv), "--target", "int8-systolic", "-o", str(tmp_path / "r"), "--json")
    assert result.code == 0, result.stderr
    ops = result.json()["ops"]
    assert [(o["name"], o["m"], o["k"], o["n"]) for o in ops] == [("fc1", 64, 512, 128), ("fc2", 1, 1024, 4096)]
    # one output tile each: compute cycles are the OS formula (SCALE-Sim + 1)
    assert ops[0]["compute_cycles"] == 2 * 4 * (512 + 62)
    bad = tmp_path / "bad.csv"
    bad.write_text("Layer,M,N,K\nfc1,64,x,512\n")
    failed = cli("simulate", str(bad), "--target", "int8-systolic", "-o", str(tmp_path / "x"))
    assert failed.code == 2 and "bad.csv:2" in failed.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [
    (("no-such-model", "--target", "int8-systolic"), "no-such-model"),
    (("smollm2-135m", "--target", "tpu9"), "unknown target 'tpu9'"),
    (("smollm2-135m", "--target", "int8-systolic", "--format", "nope"), "unknown format 'nope'"),
])
def test_bad_inputs_exit_2(cli, tmp_path, args, message):
    result = cli("simulate", *args, "--prefill", "8", "--decode", "1", "-o", str(tmp_path / "o"))
    assert result.code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_compare_table_and_normalised_chart(cli, tmp_path, trace_file):
    path, _ = trace_file
    result = cli("compare", str(path), "--targets", "int8-systolic,ant,a100", "-o", str(tmp_path), "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    rows = doc["targets"]
    assert [r["target"] for r in rows] == ["int8-systolic", "ant", "a100"]
    assert rows[0]["time_vs_first"] == 1.0 and rows[0]["energy_vs_first"] == 1.0
    for r in rows:  # ratios of the exact cycle counts, not of the rounded seconds
        exact = (r["cycles"] / r["clock_hz"]) / (rows[0]["cycles"] / rows[0]["clock_hz"])
        assert r["time_vs_first"] == float(f"{exact:.6g}")
    # ANT runs the linear layers at 4 bits on the same array: faster than INT8
    assert rows[1]["seconds"] < rows[0]["seconds"]
    assert json.loads((tmp_path / "compare.json").read_text()) == doc
    assert (tmp_path / "compare.png").stat().st_size > 1000
    table = cli("compare", str(path), "--targets", "int8-systolic,ant", "-o", str(tmp_path / "t"))
    assert table.code == 0 and "compare.md" in table.stdout
    assert "| ant | int4 |" in (tmp_path / "t" / "compare.md").read_text()
    one = cli("compare", str(path), "--targets", "ant", "-o", str(tmp_path / "u"))
    assert one.code == 2 and "at least two" in one.stderr


def _report(trace, target: str) -> dict:
    from sim.simulate import simulate
    from sim.target import load_target
    from tapeout.report.document import build_report

    return build_report(simulate(trace, load_target(target)))


def test_tokens_count_every_sequence_of_the_batch():
    """A decode step yields one token per sequence: batch 3 × 2 steps = 6 tokens."""
    doc = _report(trace_model("smollm2-135m", 8, 2, batch=3)[0], "int8-systolic")
    t, decode = doc["totals"], doc["phases"]["decode"]
    assert t["decode_seconds_per_token"] == pytest.approx(decode["seconds"] / 2, rel=1e-5)
    assert t["tokens_per_second"] == pytest.approx(6 / decode["seconds"], rel=1e-5)
    assert t["energy_per_token_joules"] == pytest.approx(decode["energy_joules"] / 6, rel=1e-5)


def test_kinds_with_fused_ops_have_no_utilisation(trace_file):
    """On a target that fuses element-wise ops into the matrix op before them, a fused op's
    cycles are only what it adds, so bytes ÷ cycles of its kind would exceed the peak."""
    _, trace = trace_file
    kinds = _report(trace, "a100")["breakdown"]["kind"]
    assert kinds["eltwise"]["fused_ops"] > 0
    assert kinds["eltwise"]["bandwidth_utilization"] is None
    assert kinds["linear"]["fused_ops"] == 0 and 0 < kinds["linear"]["bandwidth_utilization"] <= 1
    assert all(k["decode_seconds"] >= 0 and k["prefill_seconds"] >= 0 for k in kinds.values())


def test_compare_refuses_a_reference_that_takes_no_time():
    from types import SimpleNamespace

    from core.errors import UserError
    from tapeout.commands.simulate import _normalise

    def sim(name, cycles, joules):
        return SimpleNamespace(target=SimpleNamespace(name=name), clock=5e8, cycles=cycles,
                               energy_joules=joules)

    with pytest.raises(UserError, match="reference target int8-systolic takes 0 s .*nothing to normalise to"):
        _normalise([{}, {}], [sim("int8-systolic", 0, 0.0), sim("ant", 10, 1e-9)])
    rows = [{}, {}]
    _normalise(rows, [sim("int8-systolic", 20, 2e-9), sim("ant", 10, 1e-9)])
    assert (rows[1]["time_vs_first"], rows[1]["energy_vs_first"]) == (0.5, 0.5)


def test_compare_writes_all_its_files_or_none(cli, tmp_path):
    csv = tmp_path / "g.csv"
    csv.write_text("Layer,M,N,K\nfc1,64,128,512\n")
    out = tmp_path / "out"
    (out / "compare.json").mkdir(parents=True)
    result = cli("compare", str(csv), "--targets", "int8-systolic,ant", "-o", str(out))
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "compare.json: it is an existing directory" in result.stderr
    assert [p.name for p in out.iterdir()] == ["compare.json"]
