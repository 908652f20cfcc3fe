"""`tapeout sweep`: the sweep file's validation, point rows with their reasons, the cache and
resume, the Pareto front, and the same table serially, on a LocalCluster, on a scheduler and
worker started as processes, and with a worker killed in the middle."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from core.errors import UserError
from spec.edit import edit_document
from spec.yamlfile import SpecProblem
from tapeout.sweep import outputs, run, table
from tapeout.sweep.spec import parse_sweep

SMALL = {"base": "int8-systolic", "workload": {"model": "smollm2-135m", "prefill": 16, "decode": 2},
         "axes": {"compute.rows": [8, 16, 32], "buffers.weights.size": ["64 KiB", "128 KiB"]},
         "accuracy": False}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Every test starts from an empty sweep cache (the trace cache stays shared)."""
    monkeypatch.setattr(run, "cache_dir", lambda: tmp_path / "sweep-cache")


def _sweep(doc=None, **changes):
    return parse_sweep({**(doc or SMALL), **changes}, "test.yaml")


def _table(plan, outcome) -> bytes:
    files, _ = outputs.render(plan, outcome)
    return files["sweep.parquet"], files["sweep.csv"]


# --- the sweep file ---------------------------------------------------------------------------------

def test_product_of_axes_in_file_order():
    plan = _sweep()
    assert plan.axes == ("compute.rows", "buffers.weights.size")
    assert [dict(p.settings) for p in plan.points][:2] == [
        {"compute.rows": 8, "buffers.weights.size": "64 KiB"},
        {"compute.rows": 8, "buffers.weights.size": "128 KiB"}]
    assert len(plan.points) == 6
    # resizing the array keeps the MACs per PE: 8 rows of 32 → 256 INT8 MACs per cycle
    assert plan.points[0].target["compute"]["precisions"]["int8"]["macs_per_cycle"] == 256


def test_explicit_points_and_workload_axes():
    plan = _sweep(axes={}, points=[{"compute.rows": 16, "format": "int8"}, {"decode": 0}])
    assert [p.format for p in plan.points] == ["int8", None]
    assert [p.decode for p in plan.points] == [2, 0]
    assert plan.axes == ("compute.rows", "format", "decode")


@pytest.mark.parametrize("changes, message", [
    ({"axes": {"compute.rowz": [4]}}, "test.yaml: axes.compute.rowz: 4: compute.rowz: unknown key"),
    ({"axes": {"buffers.weights.size": ["12 parsecs"]}}, "test.yaml: axes.buffers.weights.size: '12 parsecs'"),
    ({"axes": {"compute.rows": []}}, "axes.compute.rows: the axis has no values"),
    ({"axes": {"cache.size": [1]}}, "the target has no 'cache' section"),
    ({"axes": {"compute.rows": [0]}}, "an array side is a positive whole number"),
    ({"axes": {"format": ["int9"]}}, "test.yaml: axes.format: 'int9': unknown format 'int9'"),
    ({"axes": {"model": ["gpt-17"]}}, "test.yaml: axes.model: 'gpt-17'"),
    ({"axes": {"prefill": [0]}}, "prefill is a whole number from 1 to 1048576"),
    ({"points": [{"compute.rows": 4}]}, "give either axes (their product) or points"),
    ({"constraints": ["area < lots"]}, "is not COLUMN OP NUMBER"),
    ({"constraints": ["speed <= 2"]}, "'speed' is not a result column"),
    ({"base": "tpu-v9"}, "test.yaml: base: unknown target 'tpu-v9'"),
    ({"wokload": {}}, "unknown key"),
    ({"constraints": ["area_mm2 <= 1..2"]}, "'1..2' is not a number"),
    ({"accuracy": False, "constraints": ["perplexity <= 20"]}, "a perplexity constraint needs the accuracy run"),
    ({"base": "ant", "constraints": ["area_mm2 <= 2"]}, "the base target has no area model"),
    ({"accuracy": {"model": "llama2-7b"}}, "test.yaml: accuracy.model: llama2-7b has no trained weights"),
    ({"axes": {"batch": [100000]}}, "batch is a whole number from 1 to 4096"),
])
def test_bad_sweep_files_name_the_file_key_and_reason(changes, message):
    with pytest.raises(UserError) as info:
        _sweep(**changes)
    assert message in str(info.value)


def test_edit_document_checks_sections_and_scales_the_array():
    doc = yaml.safe_load((Path(__file__).parents[1] / "hw/targets/ant.yaml").read_text())
    edited = edit_document(doc, {"compute.cols": 64, "clock": "1 GHz"})
    assert edited["compute"]["precisions"]["int4"]["macs_per_cycle"] == 8192
    assert edited["clock"] == "1 GHz" and doc["compute"]["cols"] == 32      # the original is untouched
    with pytest.raises(SpecProblem, match="no 'memory.dram' section"):
        edit_document(doc, {"memory.dram.size": 1})


# --- rows ---------------------------------------------------------------------------------------------

def test_invalid_and_infeasible_points_are_rows_with_reasons():
    plan = _sweep({**SMALL, "base": "olive-systolic", "axes": {"compute.rows": [32, 33]},
                   "format": "olive-w4a4"})
    outcome = run.run_sweep(plan, workers=0)
    rows = table.build_rows(plan, outcome.rows, [p.key("v") for p in plan.points], [None, None], {})
    assert [r["status"] for r in rows] == ["ok", "invalid"]
    assert "even" in rows[1]["reason"] and rows[1]["latency_s"] is None
    tiny = _sweep(axes={"memory.capacity": ["1 MiB", "16 GiB"]})
    rows = run.run_sweep(tiny, workers=0).rows
    assert rows[0]["status"] == "infeasible" and "does not fit" in rows[0]["reason"]
    assert rows[1]["status"] == "ok"


def test_constraints_exclude_points_and_the_front_ignores_them():
    plan = _sweep(constraints=["latency_s <= 0"])
    outcome = run.run_sweep(plan, workers=0)
    _, doc = outputs.render(plan, outcome)
    assert doc["summary"]["statuses"]["excluded"] == 6 and doc["pareto"] == []
    assert all("constraint latency_s <= 0 fails" in r["reason"] for r in doc["rows"])


def test_pareto_front_keeps_the_non_dominated_points():
    rows = [{"status": "ok", "latency_s": 1, "energy_j": 5}, {"status": "ok", "latency_s": 2, "energy_j": 3},
            {"status": "ok", "latency_s": 3, "energy_j": 4}, {"status": "ok", "latency_s": 4, "energy_j": 1},
            {"status": "invalid", "latency_s": None, "energy_j": None}]
    assert table.pareto_front(rows) == [0, 1, 3]


def test_area_grows_with_the_array_and_gpus_have_none():
    from hw.area import area_mm2
    from sim.target import load_target, parse_target

    base = yaml.safe_load((Path(__file__).parents[1] / "hw/targets/int8-systolic.yaml").read_text())
    small, large = (area_mm2(parse_target(edit_document(base, {"compute.rows": r}), "t")) for r in (16, 32))
    sram = 512 * 1486 / 1e6                               # 128 + 256 + 128 KiB at 28 nm
    assert large - sram == pytest.approx(2 * (small - sram), rel=1e-9)
    assert area_mm2(load_target("rtx2080ti")) is None


# --- cache and resume ---------------------------------------------------------------------------------

def test_rerun_computes_nothing_and_resume_computes_only_the_rest(monkeypatch):
    plan = _sweep()
    seen, calls = [], []
    real = run.evaluate
    monkeypatch.setattr(run, "evaluate", lambda *args: calls.append(1) or real(*args))

    def interrupt(done, total):
        seen.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.run_sweep(plan, workers=0, progress=interrupt)
    assert len(calls) == 2
    resumed = run.run_sweep(plan, workers=0)
    assert resumed.computed == 4 and len(calls) == 6     # 6 points, 2 finished before the interrupt
    again = run.run_sweep(plan, workers=0)
    assert again.computed == 0 and len(calls) == 6 and again.rows == resumed.rows


def test_a_corrupt_cached_row_is_recomputed():
    plan = _sweep(axes={"compute.rows": [16]})
    first = run.run_sweep(plan, workers=0)
    (run.cache_dir() / f"{plan.points[0].key(run.code_version())}.json").write_text("{not json")
    again = run.run_sweep(plan, workers=0)
    assert again.computed == 1 and again.rows == first.rows


# --- Dask ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_local_cluster_gives_the_serial_table(tmp_path, monkeypatch):
    plan = _sweep()
    serial = _table(plan, run.run_sweep(plan, workers=0))
    monkeypatch.setattr(run, "cache_dir", lambda: tmp_path / "cluster-cache")
    parallel = run.run_sweep(plan, workers=2)
    assert parallel.computed == 6
    assert _table(plan, parallel) == serial


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "dask"
    return subprocess.Popen([str(exe), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


@pytest.fixture
def cluster():
    """A scheduler and two single-threaded workers started as processes on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    workers = [_dask("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                     "--no-nanny") for _ in range(2)]
    try:
        from dask.distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in procs + workers:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.slow
def test_scheduler_and_workers_as_processes_give_the_serial_table(cluster, tmp_path, monkeypatch, cli):
    address, _ = cluster
    plan = _sweep()
    serial = _table(plan, run.run_sweep(plan, workers=0))
    monkeypatch.setattr(run, "cache_dir", lambda: tmp_path / "remote-cache")
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SMALL, sort_keys=False))
    result = cli("sweep", str(path), "-o", str(tmp_path / "out"), "--scheduler", address, "--json")
    assert result.code == 0, result.stderr
    assert result.json()["summary"]["computed"] == 6
    assert ((tmp_path / "out/sweep.parquet").read_bytes(), (tmp_path / "out/sweep.csv").read_bytes()) == serial


@pytest.mark.slow
def test_a_killed_worker_loses_no_point_and_counts_none_twice(cluster, tmp_path, monkeypatch):
    address, workers = cluster
    plan = _sweep(axes={"compute.rows": [4, 8, 12, 16, 20, 24, 28, 32], "buffers.weights.size": ["64 KiB", "128 KiB"]})
    serial = _table(plan, run.run_sweep(plan, workers=0))
    monkeypatch.setattr(run, "cache_dir", lambda: tmp_path / "killed-cache")
    killed = threading.Event()

    def kill_one(done, total):
        if done == 3 and not killed.is_set():
            killed.set()
            os.killpg(workers[0].pid, signal.SIGKILL)

    seen = []
    outcome = run.run_sweep(plan, scheduler=address,
                            progress=lambda done, total: seen.append(done) or kill_one(done, total))
    assert killed.is_set() and workers[0].wait(timeout=10) is not None
    assert outcome.computed == len(plan.points) == len(outcome.rows)
    assert seen == list(range(len(plan.points) + 1))        # each point arrived once, none twice
    assert all(r["status"] == "ok" for r in outcome.rows)
    assert len({p.key(run.code_version()) for p in plan.points}) == len(plan.points)   # all distinct
    assert _table(plan, outcome) == serial


# --- the command -------------------------------------------------------------------------------------

def test_command_writes_the_set_and_refuses_bad_files(cli, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SMALL, sort_keys=False))
    result = cli("sweep", str(path), "-o", str(tmp_path / "out"), "--workers", "0")
    assert result.code == 0, result.stderr
    assert "6 points (6 ok); 6 computed" in result.stdout
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["pareto.png", "sweep.csv", "sweep.md", "sweep.parquet"]
    md = (tmp_path / "out/sweep.md").read_text()
    assert "## Pareto-optimal points" in md and "| compute.rows | 8 |" in md
    path.write_text("base: int8-systolic\nworkload: {model: smollm2-135m}\naxes: {compute.rows: [1 parsec]}\n")
    bad = cli("sweep", str(path), "-o", str(tmp_path / "bad"))
    assert bad.code == 2 and "axes.compute.rows" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
    missing = cli("sweep", str(tmp_path / "nope.yaml"))
    assert missing.code == 2 and "no such sweep file" in missing.stderr


def test_unreachable_scheduler_is_one_message(cli, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "axes": {"compute.rows": [8]}}, sort_keys=False))
    result = cli("sweep", str(path), "-o", str(tmp_path / "out"), "--scheduler", f"tcp://127.0.0.1:{_free_port()}")
    assert result.code == 2 and "cannot reach the Dask scheduler" in result.stderr
    assert not (tmp_path / "out").exists()


def test_progress_reaches_the_total():
    plan = _sweep(axes={"compute.rows": [8, 16]})
    seen = []
    run.run_sweep(plan, workers=0, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)


def test_each_workload_is_traced_once(monkeypatch):
    calls = []
    real = run._trace
    monkeypatch.setattr(run, "_trace", lambda point: calls.append(point.workload) or real(point))
    plan = _sweep(axes={"compute.rows": [8, 16], "prefill": [8, 16]})
    run.run_sweep(plan, workers=0)
    assert sorted(calls) == [("smollm2-135m", 8, 2, 1), ("smollm2-135m", 16, 2, 1)]


def test_a_workload_the_model_cannot_take_is_infeasible_rows():
    plan = _sweep(axes={"compute.rows": [8, 16], "prefill": [16, 100000]})
    rows = run.run_sweep(plan, workers=0).rows
    assert [r["status"] for r in rows] == ["ok", "infeasible", "ok", "infeasible"]
    assert "workload smollm2-135m prefill 100000" in rows[1]["reason"]


def test_a_simulator_failure_is_an_error_row_and_is_not_cached(monkeypatch):
    import sim.simulate

    real = sim.simulate.simulate

    def flaky(trace, target, fmt=None, **kw):
        if target.compute.rows == 16:
            raise RuntimeError("boom")
        return real(trace, target, fmt, **kw)

    monkeypatch.setattr(sim.simulate, "simulate", flaky)
    plan = _sweep(axes={"compute.rows": [8, 16]})
    rows = run.run_sweep(plan, workers=0).rows
    assert [r["status"] for r in rows] == ["ok", "error"] and rows[1]["reason"] == "RuntimeError: boom"
    monkeypatch.setattr(sim.simulate, "simulate", real)
    again = run.run_sweep(plan, workers=0)
    assert again.computed == 1 and [r["status"] for r in again.rows] == ["ok", "ok"]


def test_table_types_are_fixed_and_mixed_axes_become_text():
    import pyarrow as pa

    rows = [{"point": 0, "mix": 16, "num": 1, **{c: None for c in table.METRIC_COLUMNS},
             "status": "invalid", "reason": "x", "key": "k0"},
            {"point": 1, "mix": "32", "num": 2.5, **{c: None for c in table.METRIC_COLUMNS},
             "status": "invalid", "reason": "y", "key": "k1"}]
    t = table.to_arrow(rows, ["point", "mix", "num", *table.METRIC_COLUMNS, *table.TAIL_COLUMNS])
    assert t.schema.field("mix").type == pa.string() and t.column("mix").to_pylist() == ["16", "32"]
    assert t.schema.field("num").type == pa.float64()
    assert t.schema.field("latency_s").type == pa.float64()          # all-None metric: still float64
    assert t.schema.field("offchip_bytes").type == pa.int64()


def test_a_broken_base_is_one_message(tmp_path):
    base = tmp_path / "mine.yaml"
    doc = yaml.safe_load((Path(__file__).parents[1] / "hw/targets/int8-systolic.yaml").read_text())
    doc["compute"]["dataflow"] = "sideways"
    base.write_text(yaml.safe_dump(doc))
    with pytest.raises(UserError, match="test.yaml: base: .*mine.yaml: compute.dataflow"):
        parse_sweep({**SMALL, "base": "mine.yaml"}, "test.yaml", tmp_path)


def test_equal_points_are_all_on_the_front():
    row = {"status": "ok", "latency_s": 1.0, "energy_j": 2.0}
    assert table.pareto_front([row, dict(row), {**row, "energy_j": 3.0}]) == [0, 1]


def test_the_code_version_covers_the_trace_libraries(monkeypatch):
    import importlib.metadata

    before = run.code_version()
    run.code_version.cache_clear()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.0-other" if name == "torch" else real(name))
    try:
        assert run.code_version() != before
    finally:
        run.code_version.cache_clear()
