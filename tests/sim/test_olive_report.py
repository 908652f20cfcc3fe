"""The OliVe reproduction report: schema, geomeans, orderings, determinism, and the OliVe
targets/energy table it relies on. Small prompts and batch keep it fast."""

from __future__ import annotations

import json
import math

import pytest

from sim.energy.table import load_table
from sim.target import load_target
from tapeout.report import olive

SMALL = {"bert-base": 16, "llama2-7b": 16}
ACCURACY = {"model": "smollm2-135m", "tokens": 64,
            "formats": {"fp32": {"perplexity": 10.0}, "olive-w4a4": {"perplexity": 11.0}}}


@pytest.fixture(scope="module")
def doc() -> dict:
    return olive.build(SMALL, batch=2, accuracy=ACCURACY)


def test_json_schema(doc):
    assert {"comparisons", "geomean"} <= set(doc)
    assert len(doc["comparisons"]) == len(olive.COMPARISONS) * len(SMALL)
    for c in doc["comparisons"]:
        assert {"design", "baseline", "model", "speedup", "energy_reduction"} <= set(c)
        assert (c["design"], c["baseline"]) in olive.COMPARISONS and c["model"] in SMALL
    pairs = [(g["design"], g["baseline"]) for g in doc["geomean"]]
    assert pairs == list(olive.COMPARISONS)
    for g in doc["geomean"]:
        assert {"design", "baseline", "speedup", "energy_reduction"} <= set(g)
    json.dumps(doc, allow_nan=False)   # strict JSON


def test_every_ratio_finite_and_positive(doc):
    for row in doc["comparisons"] + doc["geomean"]:
        for key, value in row.items():
            if key.startswith(("speedup", "energy")):
                assert math.isfinite(value) and value > 0, (row, key)


def test_geomean_is_the_geometric_mean_of_the_comparisons(doc):
    for g in doc["geomean"]:
        rows = [c for c in doc["comparisons"] if (c["design"], c["baseline"]) == (g["design"], g["baseline"])]
        for key in ("speedup", "energy_reduction"):
            expected = math.prod(c[key] for c in rows) ** (1 / len(rows))
            assert g[key] == pytest.approx(expected, rel=1e-5)


def test_geomean_helper():
    assert olive.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert olive.geomean([3.0]) == pytest.approx(3.0)


def test_olive_beats_int8_on_llama(doc):
    row = next(c for c in doc["comparisons"] if (c["design"], c["baseline"], c["model"])
               == ("olive-systolic", "int8-systolic", "llama2-7b"))
    assert row["speedup"] > 1.5 and row["energy_reduction"] > 1.5


def test_ratios_match_the_runs(doc):
    runs = {(r["design"], r["model"]): r for r in doc["runs"]}
    for c in doc["comparisons"]:
        d, b = runs[c["design"], c["model"]], runs[c["baseline"], c["model"]]
        assert c["speedup"] == pytest.approx(b["seconds"] / d["seconds"], rel=1e-5)
        assert c["energy_reduction"] == pytest.approx(b["joules"] / d["joules"], rel=1e-5)
    assert runs["olive-systolic", "llama2-7b"]["linear_precision"] == "ovp4"
    assert runs["gobo", "llama2-7b"]["linear_precision"] == "w4a16"


def test_published_ratios_are_marked(doc):
    text = olive.render_markdown(doc, "olive.png")
    assert "4.50× (published)" in text and "3.70× (published)" in text
    assert "| `olive-w4a4` | 11 | +10.00% |" in text
    gobo = next(g for g in doc["geomean"] if g["baseline"] == "gobo")
    assert gobo["published_speedup"] == 4.5 and isinstance(gobo["within_tolerance"], bool)


def test_report_is_deterministic(doc):
    again = olive.build(SMALL, batch=2, accuracy=ACCURACY)
    assert json.dumps(again, sort_keys=True) == json.dumps(doc, sort_keys=True)
    assert olive.render_markdown(again, "x.png") == olive.render_markdown(doc, "x.png")
    assert olive.plot(again) == olive.plot(doc)


def test_gpu_pair_runs_on_the_same_card():
    a, b = load_target("olive-gpu"), load_target("gobo-gpu")
    assert (a.clock, a.memory, a.static_power, a.buffers, a.energy) == (b.clock, b.memory, b.static_power,
                                                                          b.buffers, b.energy)
    assert a.compute.precisions["fp16"] == b.compute.precisions["fp16"]


def test_olive_table_shares_the_ant_entries():
    ant, ovp = load_table("ant-cacti-28nm"), load_table("olive-cacti-28nm")
    for action, entry in ant.entries.items():
        if not action.startswith("mac."):
            assert ovp.pj(action) == entry.pj, action
    assert ovp.pj("mac.ovp4") > ant.pj("mac.pe8x4.int4")


def test_bad_accuracy_file_is_a_user_error(tmp_path):
    from core.errors import UserError

    bad = tmp_path / "accuracy.json"
    bad.write_text("{\"model\": 1}")
    with pytest.raises(UserError):
        olive.load_accuracy(bad)
    assert olive.load_accuracy(tmp_path / "missing.json") is None


def test_command_writes_identical_files_and_rejects_bad_accuracy(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(olive, "SEQUENCE", {"bert-base": 8})
    monkeypatch.setattr(olive, "BATCH", 2)
    acc = tmp_path / "acc.json"
    acc.write_text(json.dumps(ACCURACY))
    outputs = []
    for run in ("a", "b"):
        result = cli("report", "olive", "-o", str(tmp_path / run), "--accuracy", str(acc), "--json")
        assert result.code == 0, result.stderr
        assert result.json()["setting"]["prefill"] == {"bert-base": 8}
        outputs.append({n: (tmp_path / run / n).read_bytes() for n in ("olive.md", "olive.json", "olive.png")})
    assert outputs[0] == outputs[1]
    acc.write_text("not json")
    bad = cli("report", "olive", "-o", str(tmp_path / "c"), "--accuracy", str(acc))
    assert bad.code == 2 and "accuracy report" in bad.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("content, key", [
    ({**ACCURACY, "formats": {"fp32": 1}}, "'formats.fp32'"),
    ({**ACCURACY, "formats": [1, 2]}, "'formats'"),
    ({**ACCURACY, "formats": {}}, "'formats'"),
    ({**ACCURACY, "formats": {"fp32": {"perplexity": float("nan")}}}, "'formats.fp32.perplexity'"),
    ({**ACCURACY, "formats": {"fp32": {"perplexity": "10"}}}, "'formats.fp32.perplexity'"),
    ({**ACCURACY, "tokens": True}, "'tokens'"),
    ({**ACCURACY, "model": None}, "'model'"),
    ([1, 2], "JSON object"),
])
def test_accuracy_document_shape_is_checked(tmp_path, content, key):
    from core.errors import UserError

    path = tmp_path / "acc.json"
    path.write_text(json.dumps(content))
    with pytest.raises(UserError, match="acc.json is not an accuracy report") as info:
        olive.load_accuracy(path)
    assert key in str(info.value)


def test_bad_or_missing_explicit_accuracy_fails_before_any_work(cli, tmp_path, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the report ran before checking --accuracy")

    monkeypatch.setattr(olive, "quick_accuracy", no_work)
    monkeypatch.setattr(olive, "build", no_work)
    missing = cli("report", "olive", "-o", str(tmp_path / "a"), "--accuracy", str(tmp_path / "no.json"))
    assert missing.code == 2 and "no.json: no such file" in missing.stderr
    acc = tmp_path / "acc.json"
    acc.write_text(json.dumps({**ACCURACY, "formats": {"fp32": {"perplexity": float("inf")}}}))
    bad = cli("report", "olive", "-o", str(tmp_path / "b"), "--accuracy", str(acc))
    assert bad.code == 2 and "'formats.fp32.perplexity'" in bad.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_accuracy_report_of_a_model_without_weights(cli, tmp_path):
    r = cli("report", "accuracy", "bert-base", "--formats", "fp32", "--tokens", "64",
            "-o", str(tmp_path))
    assert r.code == 2
    assert "bert-base has no trained weights" in r.stderr and "--tensors" not in r.stderr
    assert "smollm2-135m" in r.stderr
