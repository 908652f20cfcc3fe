"""`tapeout quantize` through the CLI: outputs, statistics and bad input (exit 2, no file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.formats.base import Role
from sim.formats.ovp import OLIVE_W4A4


@pytest.fixture
def tensor(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 63)).astype(np.float32)
    x[2, 10] = 25.0
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path, x


def test_quantize_ovp_with_fixed_scale(cli, tensor, tmp_path):
    path, x = tensor
    out = tmp_path / "q.npz"
    r = cli("quantize", "--format", "olive-w4a4", "--role", "activation", str(path), "-o", str(out),
            "--scale", "0.25", "--json")
    assert r.code == 0, r.stderr
    stats = r.json()
    enc = OLIVE_W4A4.encode(x, Role.ACTIVATION, scale=0.25)
    with np.load(out) as z:
        np.testing.assert_array_equal(z["codes"], enc.codes)
        np.testing.assert_array_equal(z["decoded"], OLIVE_W4A4.decode(enc))
        assert z["scales"].tolist() == [0.25]
        assert json.loads(str(z["meta_json"]))["meta"]["pairs"] == enc.meta["pairs"]
    decoded = OLIVE_W4A4.decode(enc)
    assert stats["mse"] == pytest.approx(float(((decoded - x).astype(np.float64) ** 2).mean()))
    assert stats["max_error"] == pytest.approx(float(np.abs(decoded - x).max()))
    assert stats["padded"] == 8 and stats["padded_per_row"] == 1
    assert stats["meta"]["outliers"] >= 1 and sum(stats["meta"]["pairs"].values()) == 8 * 32
    assert stats["bits_per_element"] == pytest.approx((8 * 64 * 4 + 32 + 1) / (8 * 63))


def test_quantize_human_output(cli, tensor, tmp_path):
    path, _ = tensor
    r = cli("quantize", "--format", "int8", str(path), "-o", str(tmp_path / "q.npz"))
    assert r.code == 0, r.stderr
    assert "SQNR" in r.stdout and "bits/element" in r.stdout


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"not a numpy file", "not a readable .npy"),
    (np.zeros((2, 3, 4), np.float32), "2-D"),
    (np.array([[1.0, np.nan]], np.float32), "NaN"),
    (np.array([["a", "b"]]), "real-valued"),
])
def test_bad_input_exits_2_without_output(cli, tmp_path, content, message):
    src, out = tmp_path / "in.npy", tmp_path / "q.npz"
    if isinstance(content, bytes):
        src.write_bytes(content)
    elif content is not None:
        np.save(src, content)
    r = cli("quantize", "--format", "olive-w4a4", str(src), "-o", str(out))
    assert r.code == 2 and message in r.stderr
    assert not out.exists() and list(tmp_path.glob(".q.npz*")) == []


def test_bad_options_exit_2(cli, tensor, tmp_path):
    path, _ = tensor
    out = tmp_path / "q.npz"
    assert cli("quantize", "--format", "nope", str(path), "-o", str(out)).code == 2
    assert cli("quantize", "--format", "fp16", str(path), "-o", str(out)).code == 2
    assert cli("quantize", "--format", "int4", "--role", "bias", str(path), "-o", str(out)).code == 2
    r = cli("quantize", "--format", "int4", "--scale", "-1", str(path), "-o", str(out))
    assert r.code == 2 and "scale" in r.stderr and not out.exists()
