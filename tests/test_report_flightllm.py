"""`tapeout report flightllm` on a small configuration: every section present and consistent —
runs are the sums of their steps' bucket programs, overlap never slows a step, padding never
makes a program faster, storage counts every length — and the files written as one set."""

from __future__ import annotations

import math

import pytest

from sim.flightllm.buckets import decode_bucket
from tapeout.report import flightllm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small():
    doc = flightllm.load_config().model_dump()
    doc["workload"] = {"models": ["smollm2-135m"], "batch": 1, "prefill": [100], "decode": [20, 40]}
    doc["decode_contexts"] = [16, 144]
    doc["padding_samples"] = {"decode": [17], "prefill": [129]}
    doc["fpgas"] = {"flightllm-u280": doc["fpgas"]["flightllm-u280"]}
    doc["gpus"] = {"v100s": doc["gpus"]["v100s"]}
    doc["sensitivity"] = [{"target": "flightllm-u280", "format": "flightllm-w4s", "prefill": 100,
                           "decode": 20, "edit": {"compute.rows": 100}, "label": "u280-100",
                           "overlap_off": True, "why": "fewer chains"}]
    doc["storage"] |= {"model": "smollm2-135m", "target": "flightllm-u280", "prefill_sample_every": 512}
    config = flightllm.Reproduction.model_validate(doc)
    return config, flightllm.build(config, with_storage=False)


def test_fpga_runs_sum_their_bucket_programs(small):
    config, doc = small
    target = flightllm._target("flightllm-u280")
    steps = flightllm.decode_programs("smollm2-135m", target, "flightllm-w4s",
                                      sorted({decode_bucket(c) for c in range(101, 141)}))
    run = next(r for r in doc["runs"] if r["target"] == "flightllm-u280" and r["decode"] == 40)
    seconds = math.fsum(steps[decode_bucket(c)].seconds for c in range(101, 141))
    assert run["decode_ms_per_token"] == pytest.approx(seconds / 40 * 1e3, rel=1e-5)
    assert run["decode_tokens_per_s"] == pytest.approx(40 / seconds, rel=1e-5)
    joules = math.fsum(steps[decode_bucket(c)].joules for c in range(101, 141))
    assert run["power_w"] == pytest.approx(joules / seconds, rel=1e-5)
    assert run["prefill_s"] > 0 and 0 < run["bandwidth_utilisation"] < target.memory.efficiency


def test_every_section_is_there_and_consistent(small):
    _, doc = small
    assert {(r["target"], r["decode"]) for r in doc["runs"]} == {
        (t, d) for t in ("flightllm-u280", "v100s") for d in (20, 40)}
    (bw,) = doc["bandwidth"]
    assert bw["on"] > bw["off"] and bw["ms_per_token_on"] < bw["ms_per_token_off"]
    for p in doc["padding"]:
        assert p["bucket_ms"] >= p["exact_ms"] and p["bucket"] > p["length"]
    contexts = {(c["target"], c["context"]) for c in doc["decode_context"]}
    assert contexts == {(t, c) for t in ("flightllm-u280", "v100s") for c in (16, 144)}
    (sens,) = doc["sensitivity"]
    assert sens["target"] == "u280-100" and sens["bandwidth_utilisation_off"] < sens["bandwidth_utilisation"]
    fewer = flightllm._target("flightllm-u280", {"compute.rows": 100})
    assert fewer.compute.rows == 100 and fewer.compute.precisions["int8"].macs_per_cycle == 2 * 16 * 100
    assert doc["differences"]
    keys = {c["key"] for c in doc["comparisons"]}
    assert {"u280_tokens_per_s", "u280_power_w", "u280_vs_v100s_energy", "bandwidth_on"} <= keys
    assert "vhk158_tokens_per_s" not in keys                     # not run in this configuration
    text = flightllm.render_markdown(doc, "flightllm.png")
    assert "## Headline figures" in text and "| flightllm-u280 | smollm2-135m | 100 | 40 |" in text
    assert flightllm.plot(doc)[:4] == b"\x89PNG"


def test_storage_counts_one_program_per_length(small):
    config, _ = small
    store = flightllm.storage(config, None)
    assert store["programs"] == {"exact": 4096, "buckets": 144}
    assert store["exact_bytes"] > store["bucket_bytes"] > 0
    assert store["ratio"] == pytest.approx(store["exact_bytes"] / store["bucket_bytes"], rel=1e-5)
    assert store["artifact_sizes_ratio"] > 1


def test_a_config_that_breaks_the_schema_is_refused(tmp_path):
    from core.errors import UserError

    bad = tmp_path / "r.yaml"
    bad.write_text((flightllm.CONFIG.read_text()).replace("prefill: [128, 512]", "prefill: [0]"))
    with pytest.raises(UserError, match="prefill"):
        flightllm.load_config(bad)
