import contextlib
import math
import signal

import pytest
import torch

from core.errors import UserError
from models import fakequant
from models.perplexity import perplexity, windows


@pytest.mark.parametrize("n, window, stride", [(4097, 512, 256), (100, 512, 256), (1000, 64, 64), (50, 10, 3)])
def test_windows_score_every_token_once_with_context(n, window, stride):
    scored = []
    for begin, end, first in windows(n, window, stride):
        assert end - begin <= window and begin < first < end
        if begin > 0:
            assert first - begin >= max(1, window - stride)
        scored.extend(range(first, end))
    assert scored == list(range(1, n))


class _Uniform(torch.nn.Module):
    """A 'model' predicting a uniform distribution over V tokens: perplexity is exactly V."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab
        self.config = type("C", (), {"max_position_embeddings": 4096})()

    def forward(self, ids, logits_to_keep=0):
        logits = torch.zeros(ids.shape[0], logits_to_keep or ids.shape[1], self.vocab)
        return type("O", (), {"logits": logits})()


def test_uniform_model_has_perplexity_vocab():
    result = perplexity(_Uniform(37), torch.randint(0, 37, (300,)), 200, window=64, stride=32)
    assert result.perplexity == pytest.approx(37.0)
    assert result.tokens == 200


def test_bad_arguments():
    model, ids = _Uniform(5), torch.zeros(100, dtype=torch.long)
    with pytest.raises(UserError, match="only 100 tokens"):
        perplexity(model, ids, 100)
    with pytest.raises(UserError, match="stride"):
        perplexity(model, ids, 10, window=8, stride=9)
    with pytest.raises(UserError, match="--tokens"):
        perplexity(model, ids, 0)


class _ZeroWeights:
    name = "zero"

    def for_linear(self, name, out_features, in_features):
        return None if name == "skip" else self

    def quantize_weight(self, w):
        return torch.zeros_like(w)

    def observe(self, x):
        pass

    def quantize_input(self, x):
        return x


class _Recording(_ZeroWeights):
    def __init__(self):
        self.seen = []

    def quantize_weight(self, w):
        return w

    def observe(self, x):
        self.seen.append(x.clone())

    def quantize_input(self, x):
        return x + 1.0


def test_calibration_observes_float_inputs_without_quantizing():
    model = torch.nn.Linear(4, 3)
    scheme = _Recording()
    x = torch.randn(5, 4)
    with fakequant.quantized(torch.nn.Sequential(model), scheme) as wrappers:
        with fakequant.calibrating(wrappers):
            calibrated = wrappers[0](x)
        quantized = wrappers[0](x)
    assert len(scheme.seen) == 1 and torch.equal(scheme.seen[0], x)
    torch.testing.assert_close(calibrated, model(x))  # float input went through
    torch.testing.assert_close(quantized, model(x + 1.0))  # outside calibration inputs are quantized
    assert not wrappers[0].calibrating


def test_quantized_swaps_and_restores():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    originals = [model[0], model[2]]
    x = torch.randn(5, 4)
    with fakequant.quantized(model, _ZeroWeights()) as wrappers:
        assert len(wrappers) == 2
        assert torch.equal(model(x), model[2].inner.bias.expand(5, 2))
    assert [model[0], model[2]] == originals
    assert not torch.equal(model(x), model[2].bias.expand(5, 2))


@pytest.mark.slow
def test_smollm2_perplexity_finite_and_stable():
    from tapeout.accuracy import evaluate

    a = evaluate("smollm2-135m", "fp32", tokens=512)
    b = evaluate("smollm2-135m", "fp32", tokens=512)
    assert math.isfinite(a["perplexity"]) and 2 < a["perplexity"] < 100
    assert a["perplexity"] == b["perplexity"]
    half = evaluate("smollm2-135m", "fp16", tokens=512)
    assert half["perplexity"] != a["perplexity"]
    assert half["perplexity"] == pytest.approx(a["perplexity"], rel=0.01)


def test_accuracy_needs_trained_weights():
    from tapeout.accuracy import evaluate

    with pytest.raises(UserError, match="no trained weights.*smollm2-135m"):
        evaluate("llama2-7b")
    with pytest.raises(UserError, match="unknown format 'int3'"):
        evaluate("smollm2-135m", "int3")


@contextlib.contextmanager
def _deadline(seconds):
    """Fail (instead of hanging) when the body runs longer than ``seconds``."""
    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_window_of_one_token_is_refused_not_looped():
    with _deadline(10):
        with pytest.raises(UserError, match="--window must be at least 2"):
            perplexity(_Uniform(5), torch.zeros(100, dtype=torch.long), 64, window=1, stride=1)
        with pytest.raises(ValueError, match="window ≥ 2"):
            windows(65, 1, 1)


def test_short_text_is_refused_before_the_model_loads(cli, tmp_path, monkeypatch):
    from models import smollm2

    def must_not_load(*_):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(smollm2, "load_model", must_not_load)
    short = tmp_path / "short.txt"
    short.write_text("Hello world.")
    result = cli("accuracy", "smollm2-135m", "--format", "olive-w4a4", "--tokens", "64",
                 "--text", str(short))
    assert result.code == 2, result.stderr
    message = " ".join(result.stderr.split())  # one message, wrapped to the console width
    assert message == f"error: text file {short} has only 3 tokens; --tokens 64 needs 65"
    result = cli("accuracy", "smollm2-135m", "--tokens", "64", "--window", "1", "--stride", "1")
    assert result.code == 2 and "--window must be at least 2" in result.stderr
