"""The command line: --json documents, exit status 2 for user errors, no tracebacks."""

import errno
import os
from pathlib import Path

import pytest


def test_models_json(cli):
    r = cli("models", "--json")
    assert r.code == 0
    rows = {m["name"]: m for m in r.json()["models"]}
    assert set(rows) == {"llama2-7b", "llama2-13b", "opt-6.7b", "gpt2-xl", "bert-base", "smollm2-135m",
                         "vit-b16", "vit-h14"}
    assert rows["smollm2-135m"]["trained_weights"] and not rows["llama2-7b"]["trained_weights"]
    assert (rows["smollm2-135m"]["heads"], rows["smollm2-135m"]["kv_heads"]) == (9, 3)
    vit = rows["vit-b16"]
    assert (vit["vocab"], vit["max_positions"], vit["causal"]) == (0, 197, False)
    assert vit["image"] == {"channels": 3, "size": 224, "patch": 16, "tokens": 197}
    assert rows["vit-h14"]["image"]["tokens"] == 257 and rows["llama2-7b"]["image"] is None


def test_models_table(cli):
    r = cli("models")
    assert r.code == 0 and "llama2-7b" in r.stdout and "6.74 G" in r.stdout


def test_trace_json_llama2_7b(cli):
    r = cli("trace", "llama2-7b", "--prefill", "128", "--decode", "1", "--json")
    assert r.code == 0
    doc = r.json()
    assert doc["model"] == "llama2-7b"
    layers = {op["layer"] for op in doc["ops"] if op["layer"] is not None}
    assert layers == set(range(32))
    q = next(op for op in doc["ops"] if op["name"] == "model.layers.31.self_attn.q_proj")
    assert (q["m"], q["k"], q["n"], q["batch"]) == (128, 4096, 4096, 1)
    assert set(q) >= {"name", "kind", "layer", "phase", "step", "inputs", "outputs", "dtype"}
    norm = next(op for op in doc["ops"] if op["kind"] == "norm")
    assert "m" not in norm


def test_trace_summary_and_file(cli, tmp_path):
    out = tmp_path / "sub" / "t.trace.json.gz"
    r = cli("trace", "gpt2-xl", "--prefill", "16", "--decode", "2", "-o", str(out))
    assert r.code == 0 and out.is_file()
    assert "attn_score" in r.stdout and "MACs prefill" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["trace", "llama9"], "unknown model 'llama9'; known models: llama2-7b"),
    (["trace", "llama2-7b", "--prefill", "0"], "--prefill must be at least 1"),
    (["trace", "llama2-7b", "--decode", "-2"], "--decode must be at least 0"),
    (["trace", "llama2-7b", "--tensors"], "give -o FILE"),
    (["accuracy", "opt-6.7b"], "no trained weights"),
    (["accuracy", "smollm2-135m", "--format", "int3"], "unknown format"),
])
def test_user_errors_exit_2(cli, args, message):
    r = cli(*args)
    assert r.code == 2
    assert message in r.stderr.replace("\n", " ")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["trace", "vit-b16", "--prefill", "128"],
                                  ["simulate", "vit-b16", "--target", "int8-systolic", "--prefill", "196"]])
def test_vit_wrong_prefill_exits_2_naming_the_token_count(cli, args):
    r = cli(*args)
    _no_traceback(r)
    assert "vit-b16 reads one 224×224 image as 197 tokens" in r.stderr
    assert "use --prefill 197" in r.stderr.replace("\n", " ")


def test_encoder_defaults_follow_the_model(cli):
    """No --prefill/--decode: an encoder runs no decode steps and a ViT its image's tokens."""
    vit = cli("trace", "vit-h14", "--batch", "2", "--json").json()
    assert (vit["prefill"], vit["decode"], vit["batch"]) == (257, 0, 2)
    bert = cli("trace", "bert-base", "--json").json()
    assert (bert["prefill"], bert["decode"]) == (128, 0)
    llama = cli("trace", "smollm2-135m", "--json").json()
    assert (llama["prefill"], llama["decode"]) == (128, 4)


def test_simulate_vit_b16_batch_4(cli, tmp_path):
    r = cli("simulate", "vit-b16", "--target", "int8-systolic", "--prefill", "197", "--batch", "4",
            "-o", str(tmp_path), "--json")
    assert r.code == 0, r.stderr
    doc = r.json()
    assert (doc["model"]["prefill"], doc["model"]["decode"], doc["model"]["batch"]) == (197, 0, 4)
    patch = next(op for op in doc["ops"] if op["name"] == "embeddings.patch_embeddings.projection")
    assert (patch["kind"], patch["m"], patch["k"], patch["n"]) == ("linear", 4 * 196, 3 * 16 * 16, 768)
    assert doc["totals"]["decode_seconds_per_token"] == 0 and doc["totals"]["seconds"] > 0


@pytest.mark.parametrize("value", ["abc", "1.5"])
def test_non_integer_exit_2(cli, value):
    r = cli("trace", "llama2-7b", "--prefill", value)
    assert r.code == 2 and "Traceback" not in r.stderr


def test_text_file_errors(cli, tmp_path):
    r = cli("accuracy", "smollm2-135m", "--text", str(tmp_path / "none.txt"))
    assert r.code == 2 and "does not exist" in r.stderr


@pytest.mark.slow
def test_accuracy_json(cli, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("The cat sat on the mat. " * 200)
    r = cli("accuracy", "smollm2-135m", "--tokens", "256", "--text", str(text), "--json")
    assert r.code == 0, r.stderr
    doc = r.json()
    assert set(doc) >= {"perplexity", "tokens", "seconds", "format", "model"}
    assert doc["tokens"] == 256 and doc["format"] == "fp32"
    assert 1.0 <= doc["perplexity"] < 3.0  # a repeated sentence is easy to predict



GEMMS = "Layer,M,N,K\nfc1,64,128,512\n"


def _no_traceback(r):
    assert r.code == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr  # one message, nothing else


def test_simulate_under_a_regular_file_exits_2(cli, tmp_path):
    csv = tmp_path / "g.csv"
    csv.write_text(GEMMS)
    r = cli("simulate", str(csv), "--target", "int8-systolic", "-o", str(csv / "out"))
    _no_traceback(r)
    assert f"cannot write {csv}/out/" in r.stderr and "is not a directory" in r.stderr


def test_simulate_writes_no_report_file_unless_it_writes_all(cli, tmp_path):
    csv = tmp_path / "g.csv"
    csv.write_text(GEMMS)
    (tmp_path / "out" / "report.json").mkdir(parents=True)
    r = cli("simulate", str(csv), "--target", "int8-systolic", "-o", str(tmp_path / "out"))
    _no_traceback(r)
    assert "report.json: it is an existing directory" in r.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.json"]


def test_full_disk_exits_2_and_leaves_no_report(cli, tmp_path, monkeypatch):
    csv = tmp_path / "g.csv"
    csv.write_text(GEMMS)
    real = Path.write_bytes

    def full(self, data):
        if self.name.endswith("report.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    r = cli("simulate", str(csv), "--target", "int8-systolic", "-o", str(tmp_path / "out"))
    _no_traceback(r)
    assert f"cannot write {tmp_path}/out/report.json: No space left on device" in r.stderr
    assert not (tmp_path / "out").exists()


def test_unusable_cache_dir_exits_2_naming_tapeout_cache(cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.write_text("a file, not a directory")
    monkeypatch.setenv("TAPEOUT_CACHE", str(cache))
    r = cli("accuracy", "smollm2-135m", "--tokens", "64")
    _no_traceback(r)
    assert str(cache) in r.stderr and "TAPEOUT_CACHE" in r.stderr


def test_os_error_message_names_the_file_and_the_reason():
    from tapeout.cli import describe_os_error

    exc = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/srv/out/x.png")
    assert describe_os_error(exc) == "cannot use /srv/out/x.png: Permission denied"
    assert describe_os_error(OSError("weird")) == "weird"


def test_verilog_writes_both_files_or_neither(cli, tmp_path):
    (tmp_path / "olive_decoder_b4.json").mkdir()
    r = cli("verilog", "olive-decoder", "-o", str(tmp_path))
    _no_traceback(r)
    assert [p.name for p in tmp_path.iterdir()] == ["olive_decoder_b4.json"]


def test_verify_rejects_vectors_before_announcing_the_run(cli):
    r = cli("verify", "olive-decoder", "--vectors", "0")
    _no_traceback(r)
    assert "--vectors must be at least 1" in r.stderr and "verifying" not in r.stderr


def test_trace_with_tensors_writes_both_files_or_neither(cli, tmp_path):
    (tmp_path / "x.json").mkdir()
    r = cli("trace", "smollm2-135m", "--prefill", "4", "--decode", "0", "--tensors",
            "--tensor-ops", "model.layers.0.self_attn.q_proj", "-o", str(tmp_path / "x.json"))
    _no_traceback(r)
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert not any((tmp_path / "x.json").iterdir())


def test_trace_to_an_existing_directory_exits_2(cli, tmp_path):
    r = cli("trace", "gpt2-xl", "--prefill", "4", "--decode", "0", "-o", str(tmp_path))
    _no_traceback(r)
    assert f"cannot write {tmp_path}: it is an existing directory" in r.stderr
