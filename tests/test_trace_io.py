import gzip
import json

import pytest

from models.trace import io
from models.trace.tracer import trace_model
from tapeout.errors import UserError


@pytest.fixture(scope="module")
def trace():
    return trace_model("smollm2-135m", 8, 3)[0]


@pytest.mark.parametrize("name", ["t.trace.json", "t.trace.json.gz"])
def test_round_trip(tmp_path, trace, name):
    path = io.save(trace, tmp_path / name)
    loaded = io.load(path)
    assert loaded == trace
    assert io.save(loaded, tmp_path / ("again-" + name)).read_bytes() == path.read_bytes()


def test_truncated(tmp_path, trace):
    path = io.save(trace, tmp_path / "t.json")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt") as exc:
        io.load(path)
    assert str(path) in str(exc.value)


def test_truncated_gzip(tmp_path, trace):
    path = io.save(trace, tmp_path / "t.json.gz")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match="truncated or corrupt"):
        io.load(path)


def test_unknown_version(tmp_path, trace):
    doc = io.trace_to_dict(trace) | {"version": 99}
    (tmp_path / "v.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="version 99"):
        io.load(tmp_path / "v.json")


def test_not_a_trace(tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(UserError, match="not a tapeout trace"):
        io.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_bytes(gzip.compress(b"\x00\x01binary"))
    with pytest.raises(UserError, match="not a readable trace"):
        io.load(tmp_path / "y.json")
    with pytest.raises(UserError, match="does not exist"):
        io.load(tmp_path / "missing.json")


def test_damaged_op(tmp_path, trace):
    doc = io.trace_to_dict(trace)
    doc["ops"][7]["kind"] = "convolution"
    (tmp_path / "d.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="op 7"):
        io.load(tmp_path / "d.json")
    doc = io.trace_to_dict(trace)
    linear = next(i for i, op in enumerate(doc["ops"]) if op["kind"] == "linear")
    del doc["ops"][linear]["m"]
    (tmp_path / "e.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=f"op {linear}:"):
        io.load(tmp_path / "e.json")
