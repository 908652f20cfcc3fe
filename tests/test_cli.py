"""The command line: --json documents, exit status 2 for user errors, no tracebacks."""

import pytest


def test_models_json(cli):
    r = cli("models", "--json")
    assert r.code == 0
    rows = {m["name"]: m for m in r.json()["models"]}
    assert set(rows) == {"llama2-7b", "llama2-13b", "opt-6.7b", "gpt2-xl", "bert-base", "smollm2-135m"}
    assert rows["smollm2-135m"]["trained_weights"] and not rows["llama2-7b"]["trained_weights"]
    assert (rows["smollm2-135m"]["heads"], rows["smollm2-135m"]["kv_heads"]) == (9, 3)


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

