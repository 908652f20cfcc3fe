import logging

import pytest

from models import cache


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("TAPEOUT_CACHE", str(tmp_path))
    cache._verified.clear()
    return tmp_path


def _builder(calls):
    def build(out):
        calls.append(out)
        (out / "weights.bin").write_bytes(b"\x01" * 1000)
        (out / "config.json").write_text("{}")
    return build


def test_builds_once_then_reuses(root):
    calls = []
    d1 = cache.cached_dir("thing", {"v": 1}, _builder(calls))
    cache._verified.clear()
    d2 = cache.cached_dir("thing", {"v": 1}, _builder(calls))
    assert d1 == d2 == root / "thing" and len(calls) == 1
    assert (d1 / "weights.bin").read_bytes() == b"\x01" * 1000


def test_damaged_file_is_detected_and_rebuilt(root, caplog):
    calls = []
    d = cache.cached_dir("thing", {"v": 1}, _builder(calls))
    data = bytearray((d / "weights.bin").read_bytes())
    data[500] ^= 0xFF
    (d / "weights.bin").write_bytes(bytes(data))
    cache._verified.clear()
    with caplog.at_level(logging.WARNING, logger="tapeout"):
        cache.cached_dir("thing", {"v": 1}, _builder(calls))
    assert len(calls) == 2
    assert "weights.bin is damaged" in caplog.text
    assert (d / "weights.bin").read_bytes() == b"\x01" * 1000


def test_missing_file_and_key_change_rebuild(root):
    calls = []
    d = cache.cached_dir("thing", {"v": 1}, _builder(calls))
    (d / "config.json").unlink()
    cache._verified.clear()
    cache.cached_dir("thing", {"v": 1}, _builder(calls))
    cache.cached_dir("thing", {"v": 2}, _builder(calls))
    assert len(calls) == 3


def test_failed_build_leaves_nothing(root):
    def broken(out):
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.cached_dir("thing", {"v": 1}, broken)
    assert not (root / "thing").exists()
    assert [p.name for p in root.iterdir()] == [".thing.lock"]
