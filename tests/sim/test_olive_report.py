"""The OliVe reproduction (the generic runner on sim/olive/study.yaml): schema, geomeans,
orderings, determinism, and the OliVe targets/energy table it relies on. Small prompts and batch
keep it fast."""

from __future__ import annotations

import json
import math

import pytest

from sim.energy.table import load_table
from sim.target import load_target
from tapeout.report import accuracy, reproduction
from tapeout.report.study import load_study

STUDY = load_study("olive")
COMPARISONS = [tuple(p) for p in STUDY.comparisons]

SMALL = {"bert-base": 16, "llama2-7b": 16}
ACCURACY = {"model": "smollm2-135m", "tokens": 64,
            "formats": {"fp32": {"perplexity": 10.0}, "olive-w4a4": {"perplexity": 11.0}}}


@pytest.fixture(scope="module")
def doc() -> dict:
    return reproduction.build(STUDY, models=SMALL, batch=2, accuracy=ACCURACY)


def test_json_schema(doc):
    assert {"comparisons", "geomean"} <= set(doc)
    assert len(doc["comparisons"]) == len(COMPARISONS) * len(SMALL)
    for c in doc["comparisons"]:
        assert {"design", "baseline", "model", "speedup", "energy_reduction"} <= set(c)
        assert (c["design"], c["baseline"]) in COMPARISONS and c["model"] in SMALL
    pairs = [(g["design"], g["baseline"]) for g in doc["geomean"]]
    assert pairs == list(COMPARISONS)
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
    assert reproduction.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert reproduction.geomean([3.0]) == pytest.approx(3.0)


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
        assert c["speedup_linear"] == pytest.approx(b["seconds_linear"] / d["seconds_linear"], rel=1e-5)
        assert c["energy_reduction_linear"] == pytest.approx(b["joules_linear"] / d["joules_linear"], rel=1e-5)
        assert b["seconds_linear"] < b["seconds"] <= b["seconds_end_to_end"]
    assert runs["olive-systolic", "llama2-7b"]["linear_precision"] == "ovp4"
    assert runs["gobo", "llama2-7b"]["linear_precision"] == "w4a16"


def test_published_ratios_are_marked(doc):
    text = reproduction.render_markdown(doc, STUDY, "olive.png")
    assert "4.50× (published)" in text and "3.70× (published)" in text
    assert "within ±25 %" in text
    assert "| `olive-w4a4` | 11 | +10.00% |" in text
    gobo = next(g for g in doc["geomean"] if g["baseline"] == "gobo-gpu")
    assert gobo["published_speedup"] == 4.5 and isinstance(gobo["within_tolerance"], bool)


def test_report_is_deterministic(doc):
    again = reproduction.build(STUDY, models=SMALL, batch=2, accuracy=ACCURACY)
    assert json.dumps(again, sort_keys=True) == json.dumps(doc, sort_keys=True)
    assert (reproduction.render_markdown(again, STUDY, "x.png")
            == reproduction.render_markdown(doc, STUDY, "x.png"))
    assert reproduction.plot(again, STUDY) == reproduction.plot(doc, STUDY)


def test_gpu_pair_runs_on_the_same_card():
    a, b = load_target("olive-gpu"), load_target("gobo-gpu")
    assert (a.clock, a.memory, a.static_power, a.buffers, a.energy) == (b.clock, b.memory, b.static_power,
                                                                          b.buffers, b.energy)
    assert a.compute.precisions["fp16"] == b.compute.precisions["fp16"]


def test_olive_table_shares_the_ant_entries():
    ant, ovp = load_table("ant-cacti-28nm"), load_table("olive-cacti-28nm")
    for action, entry in ant.entries.items():
        if action.split(".")[0] in ("dram", "sram", "sfu"):  # the memories and the SFU
            assert ovp.pj(action) == entry.pj, action
    assert ovp.pj("mac.ovp4") > ant.pj("mac.pe8x4.int4")


def test_bad_accuracy_file_is_a_user_error(tmp_path):
    from core.errors import UserError

    bad = tmp_path / "accuracy.json"
    bad.write_text("{\"model\": 1}")
    with pytest.raises(UserError):
        accuracy.load_accuracy(bad)
    assert accuracy.load_accuracy(tmp_path / "missing.json") is None


def test_command_writes_identical_files_and_rejects_bad_accuracy(cli, tmp_path):
    acc = tmp_path / "acc.json"
    acc.write_text(json.dumps(ACCURACY))
    outputs = []
    for run in ("a", "b"):
        result = cli("report", "olive", "-o", str(tmp_path / run), "--accuracy", str(acc), "--json",
                     "--prefill", "bert-base=8", "--batch", "2")
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
        accuracy.load_accuracy(path)
    assert key in str(info.value)


def test_bad_or_missing_explicit_accuracy_fails_before_any_work(cli, tmp_path, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the report ran before checking --accuracy")

    monkeypatch.setattr(accuracy, "quick_accuracy", no_work)
    monkeypatch.setattr(reproduction, "build", no_work)
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


def test_studies_are_found_and_registered_as_commands(cli):
    from tapeout.report.study import study_names

    assert "olive" in study_names()
    assert STUDY.needed[0] == "olive-systolic" and "ant-4bit" in STUDY.needed
    result = cli("report", "--help")
    assert result.code == 0 and "olive" in result.stdout and "accuracy" in result.stdout


def _study_doc() -> dict:
    import yaml

    from tapeout.report.study import study_paths

    return yaml.safe_load(study_paths()["olive"].read_text())


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["comparisons"].append(["olive-systolic", "tpu"]), "comparisons: tpu is not one of designs"),
    (lambda d: d["published"]["ratios"].append({"design": "ant", "baseline": "gobo", "speedup": 2,
                                                "energy_reduction": 2}),
     "published ratio ant vs gobo is not one of comparisons"),
    (lambda d: d["designs"]["ant"].update(format="int3"), "designs.ant.format: unknown format 'int3'"),
    (lambda d: d["designs"]["ant"].update(target="tpu9"), "designs.ant.target: unknown target 'tpu9'"),
    (lambda d: d["workload"]["prefill"].update(gpt5=8), "workload.prefill.gpt5: unknown model 'gpt5'"),
    (lambda d: d["published"].update(tolerance=0), "published.tolerance: must be a finite number in (0, 1]"),
    (lambda d: d.update(plots=1), "plots: unknown key"),
])
def test_a_broken_study_is_one_message_naming_the_key(edit, message):
    from core.errors import UserError
    from tapeout.report.study import parse_study

    doc = _study_doc()
    edit(doc)
    with pytest.raises(UserError) as info:
        parse_study(doc, "study.yaml")
    assert str(info.value).startswith("study.yaml: ") and message in str(info.value)


def test_prose_ranges_are_computed_from_the_comparisons(doc):
    text = reproduction.render_markdown(doc, STUDY, "olive.png")
    values = [c["speedup"] for c in doc["comparisons"] if (c["design"], c["baseline"]) == ("olive-systolic", "ant")]
    assert f"Per model it spans {min(values):.2f}–{max(values):.2f}×" in text
    assert "{range" not in text


@pytest.mark.parametrize("value", ["nope=8", "bert-base=0", "bert-base"])
def test_bad_prefill_option_exits_2_before_any_work(cli, tmp_path, value):
    acc = tmp_path / "acc.json"
    acc.write_text(json.dumps(ACCURACY))
    result = cli("report", "olive", "-o", str(tmp_path / "out"), "--accuracy", str(acc), "--prefill", value)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, message", [
    ("spans {range[olive-systolic/nope/speedup]}", "olive-systolic vs nope is not one of comparisons or sensitivity"),
    ("spans {range[olive-systolic/ant]}", "is not a placeholder"),
    ("spans {range[olive-systolic/ant/speed]}", "'speed' is not a ratio"),
    ("a {brace}", "{brace} is not a placeholder"),
    ("an open { brace", "write a literal brace as {{ or }}"),
])
def test_prose_placeholders_are_checked_when_the_study_loads(text, message):
    from core.errors import UserError
    from tapeout.report.study import parse_study

    doc = _study_doc()
    doc["differences"].append(text)
    with pytest.raises(UserError, match=f"differences.{len(doc['differences']) - 1}: ") as info:
        parse_study(doc, "study.yaml")
    assert message in str(info.value)


def test_sensitivity_ranges_and_literal_braces_render(doc):
    text = "ANT-4 spans {range[olive-systolic/ant-4bit/speedup]}; {{literal}}"
    study = STUDY.model_copy(update={"differences": [text]})
    rendered = reproduction.render_markdown(doc, study, "olive.png")
    values = [c["speedup"] for c in doc["sensitivity"]["comparisons"] if c["baseline"] == "ant-4bit"]
    assert len(values) == len(SMALL)
    assert f"ANT-4 spans {min(values):.2f}–{max(values):.2f}×; {{literal}}" in rendered


def test_workload_tokens_must_be_positive():
    from core.errors import UserError
    from tapeout.report.study import parse_study

    doc = _study_doc()
    doc["workload"]["prefill"]["bert-base"] = 0
    with pytest.raises(UserError, match="workload.prefill.bert-base: Input should be greater than or equal to 1"):
        parse_study(doc, "study.yaml")
