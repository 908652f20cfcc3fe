"""The MixPE reproduction (the normalised runner on sim/mixpe/study.yaml): schema, normalisation,
geomeans, the paper workload, study validation. Small models keep it fast."""

from __future__ import annotations

import json
import math

import pytest

from core.errors import UserError
from models.trace.gemms import layer_gemms, linear_gemm_trace
from tapeout.report import normalised
from tapeout.report.study import load_study, parse_study

STUDY = load_study("mixpe")
SMALL = {"vit-b16": 197, "smollm2-135m": 16}


@pytest.fixture(scope="module")
def doc() -> dict:
    return normalised.build(STUDY, models=SMALL, accuracy=None)


def test_json_schema(doc):
    main = {d for pair in STUDY.comparisons for d in pair}
    assert {"rows", "geomean", "published", "assumptions"} <= set(doc)
    assert len(doc["rows"]) == len(main) * len(SMALL) * 2
    for row in doc["rows"]:
        assert {"design", "model", "mode", "time_vs_fp16", "energy_vs_fp16", "cycles", "energy_j"} <= set(row)
        assert row["mode"] in ("paper", "full") and row["design"] in main
    for g in doc["geomean"]:
        assert {"design", "mode", "time_vs_fp16", "energy_vs_fp16"} <= set(g)
    assert {r["design"] for r in doc["sensitivity"]["rows"]} == {"ant-4bit", "ant-8bit"}
    json.dumps(doc, allow_nan=False)


def test_main_designs_are_named_by_their_targets(doc):
    for row in doc["rows"]:
        assert STUDY.designs[row["design"]].target == row["design"]


def test_reference_is_one_and_ratios_are_seconds_over_seconds(doc):
    by = {(r["design"], r["model"], r["mode"]): r for r in doc["rows"]}
    for (design, model, mode), r in by.items():
        ref = by["fp16-systolic", model, mode]
        assert r["time_vs_fp16"] == pytest.approx(r["seconds"] / ref["seconds"], rel=1e-5)
        assert r["energy_vs_fp16"] == pytest.approx(r["energy_j"] / ref["energy_j"], rel=1e-5)
        if design == "fp16-systolic":
            assert r["time_vs_fp16"] == r["energy_vs_fp16"] == 1.0


def test_geomeans_and_comparisons(doc):
    for g in doc["geomean"]:
        rows = [r for r in doc["rows"] if (r["design"], r["mode"]) == (g["design"], g["mode"])]
        assert g["time_vs_fp16"] == pytest.approx(math.prod(r["time_vs_fp16"] for r in rows) ** 0.5, rel=1e-5)
    mean = {(g["design"], g["mode"]): g for g in doc["geomean"]}
    for c in doc["comparisons"]:
        d, b = mean[c["design"], c["mode"]], mean[c["baseline"], c["mode"]]
        assert c["speedup"] == pytest.approx(b["time_vs_fp16"] / d["time_vs_fp16"], rel=1e-4)
        assert ("published_speedup" in c) == (c["mode"] == "paper" and c["baseline"] in ("ant", "olaccel"))


def test_mixpe_w4a8_orderings(doc):
    """What the datapath implies: 4096 W4A8 products per cycle beat INT8's 1024 and FP16's 896
    MACs and ANT's 4/8-bit mix, and tie with an all-4-bit ANT's 4096; the W4A16 array beats
    FP16."""
    means = doc["geomean"] + doc["sensitivity"]["geomean"]
    mean = {(g["design"], g["mode"]): g["time_vs_fp16"] for g in means}
    assert mean["mixpe-w4a8", "paper"] < 0.5 * mean["int8-systolic", "paper"]
    assert mean["mixpe-w4a8", "paper"] < mean["ant", "paper"] < mean["ant-8bit", "paper"]
    assert 0.7 < mean["mixpe-w4a8", "paper"] / mean["ant-4bit", "paper"] < 1.4
    assert mean["mixpe-w4a16", "paper"] < 1.0


def test_paper_workload_is_four_linear_gemms_per_layer():
    trace = linear_gemm_trace("llama2-13b", 64)
    assert len(trace.ops) == 40 * 4
    assert [(o.k, o.n) for o in trace.ops[:4]] == [(5120, 15360), (5120, 5120), (5120, 20480), (20480, 5120)]
    assert all(o.m == 64 and o.kind == "linear" for o in trace.ops)
    assert layer_gemms(768, 4)[2] == ("fc1", 768, 3072)


def test_markdown_and_plot(doc):
    md = normalised.render_markdown(doc, STUDY, "mixpe.png")
    assert "| mixpe-w4a8 | ant | paper |" in md and "(published)" in md
    assert "{range" not in md and "ant-8bit (sensitivity)" in md and "ant-4bit (sensitivity)" in md
    assert normalised.plot(doc, STUDY)[:8] == b"\x89PNG\r\n\x1a\n"


def test_reference_must_be_a_design():
    raw = STUDY.model_dump()
    raw["reference"] = "nope"
    with pytest.raises(UserError, match="reference: nope is not one of designs"):
        parse_study(raw, "study.yaml")
    raw = STUDY.model_dump()
    raw["reference"] = None
    with pytest.raises(UserError, match="paper_workload: only a normalised study"):
        parse_study(raw, "study.yaml")
