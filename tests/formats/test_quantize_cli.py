"""`tapeout quantize` through the CLI: outputs, statistics and bad input (exit 2, no file)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from sim.formats import FORMATS
from sim.formats.base import SCALE_MAX, SCALE_MIN, Role
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


def _quantize_error(cli, tmp_path, src, *args):
    """Run `tapeout quantize` expecting a user error: exit 2, one stderr line, no warning, no file."""
    out = tmp_path / "q.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = cli("quantize", str(src), "-o", str(out), *args)
    assert r.code == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists()
    return r.stderr


ENCODERS = [name for name, fmt in FORMATS.items() if hasattr(fmt, "encode")]


@pytest.mark.parametrize("shape", [(0, 64), (16, 0), (0, 0)])
def test_empty_tensor_is_rejected_by_every_format(cli, tmp_path, shape):
    src = tmp_path / "empty.npy"
    np.save(src, np.zeros(shape, np.float32))
    for name in ENCODERS:
        message = _quantize_error(cli, tmp_path, src, "--format", name)
        assert "empty" in message and "empty.npy" in message, (name, message)


def test_values_near_float32_max_overflow_with_a_message(cli, tmp_path):
    src = tmp_path / "max.npy"
    np.save(src, np.full((4, 64), np.finfo(np.float32).max, np.float32))
    for fmt in ("int8", "olive-w8a8", "adafloat-w8a8", "mixpe-w4a8", "flightllm-w4s"):
        message = _quantize_error(cli, tmp_path, src, "--format", fmt, "--role", "activation")
        assert "overflows float32" in message and fmt in message
    r = cli("quantize", "--format", "olive-w4a4", str(src), "-o", str(tmp_path / "q.npz"))
    assert r.code == 0 and "SQNR inf dB" in r.stdout, r.stderr


def test_scale_must_be_a_normal_float32_step(cli, tensor, tmp_path):
    path, _ = tensor
    for fmt in ("olive-w4a4", "int8"):
        for scale in ("1e300", "1e-300", "1e-40", "3e31", "nan", "inf", "0"):
            message = _quantize_error(cli, tmp_path, path, "--format", fmt, f"--scale={scale}")
            assert "--scale must be between 1.175e-38 and 2.028e+31" in message, (fmt, scale)
    out = tmp_path / "q.npz"
    for scale in (SCALE_MIN, SCALE_MAX):
        r = cli("quantize", "--format", "olive-w8a8", str(path), "-o", str(out), f"--scale={scale!r}")
        assert r.code == 0, r.stderr
        with np.load(out) as z:
            assert np.isfinite(z["decoded"]).all()


def test_files_that_are_not_npy_tensors(cli, tmp_path):
    src = tmp_path / "in.npy"
    src.write_bytes(bytes(range(256)) * 4)
    message = _quantize_error(cli, tmp_path, src, "--format", "int8")
    assert "no NPY header" in message and "pickle" not in message
    src.write_text("1,2,3\n4,5,6\n")
    assert "no NPY header" in _quantize_error(cli, tmp_path, src, "--format", "int8")
    np.save(src, np.array([[1.0, "a"]], dtype=object), allow_pickle=True)
    assert "object arrays are not supported" in _quantize_error(cli, tmp_path, src, "--format", "int8")
    archive = tmp_path / "in.npz"
    np.savez(archive, x=np.ones((2, 2), np.float32))
    assert ".npz archive" in _quantize_error(cli, tmp_path, archive, "--format", "int8")
    folder = tmp_path / "dir.npy"
    folder.mkdir()
    assert "is a directory" in _quantize_error(cli, tmp_path, folder, "--format", "int8")


def test_float64_beyond_float32_range(cli, tmp_path):
    src = tmp_path / "big.npy"
    np.save(src, np.full((4, 8), 1e300))
    message = _quantize_error(cli, tmp_path, src, "--format", "int8")
    assert "exceed float32 range (max |x| = 1e+300)" in message and "NaN" not in message
