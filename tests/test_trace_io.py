import gzip
import json

import pytest

from core.errors import UserError
from models.trace import io
from models.trace.tracer import trace_model


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


def _write(tmp_path, doc, name="t.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))  # NaN is written as the bare token NaN
    return path


@pytest.mark.parametrize("text, match", [
    ("[" * 100_000, "nested too deeply"),
    ('{"format": ' + "9" * 5000 + "}", "more than 4300 digits"),
])
def test_unreadable_json_is_one_clear_error(tmp_path, text, match):
    (tmp_path / "x.json").write_text(text)
    with pytest.raises(UserError, match=match) as exc:
        io.load(tmp_path / "x.json")
    assert str(tmp_path / "x.json") in str(exc.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 1.5, "lots", True, 2**53 + 1])
def test_model_sizes_must_be_integers(tmp_path, trace, value):
    doc = io.trace_to_dict(trace)
    doc["model"] = doc["model"] | {"parameters": value}
    with pytest.raises(UserError, match=r"damaged trace file: model\.parameters (must be an integer ≥ 0"
                                        r"|is 9007199254740993, above the limit of 9,007,199,254,740,992)"):
        io.load(_write(tmp_path, doc))


def test_gemm_dimensions_are_bounded(tmp_path, trace):
    doc = io.trace_to_dict(trace)
    linear = next(i for i, op in enumerate(doc["ops"]) if op["kind"] == "linear")
    doc["ops"][linear]["m"] = 2**24  # the largest accepted (models.trace.ops.MAX_DIM)
    assert io.load(_write(tmp_path, doc)).ops[linear].m == 2**24
    doc["ops"][linear]["m"] = 2**24 + 1
    with pytest.raises(UserError, match=f"op {linear}: m is 16777217, above the limit of 16,777,216"):
        io.load(_write(tmp_path, doc))
    doc["ops"][linear]["m"] = 10**400
    with pytest.raises(UserError, match=r"m is a number ≈ 10\^400, above the limit"):
        io.load(_write(tmp_path, doc))
    doc = io.trace_to_dict(trace)
    doc["ops"][0]["inputs"] = [[1, 10**12]]
    with pytest.raises(UserError, match="op 0: inputs is 1000000000000, above the limit of 16,777,216"):
        io.load(_write(tmp_path, doc))


def _ops_where(doc, phase, step=None):
    return [i for i, op in enumerate(doc["ops"])
            if op["phase"] == phase and (step is None or op["step"] == step)]


def test_header_must_match_the_ops(tmp_path, trace):
    """trace has prefill 8 and decode steps 0, 1, 2."""
    def load_with(change):
        doc = io.trace_to_dict(trace)
        change(doc)
        return io.load(_write(tmp_path, doc))

    with pytest.raises(UserError, match="header says decode 1000 but the ops hold 3 decode step"):
        load_with(lambda d: d.update(decode=1000))
    with pytest.raises(UserError, match="in decode step 2 but the header says decode 2"):
        load_with(lambda d: d.update(decode=2))
    with pytest.raises(UserError, match="prefill op with step 5"):
        load_with(lambda d: d["ops"][0].update(step=5))
    with pytest.raises(UserError, match="header says decode 3 but the ops hold 2"):
        load_with(lambda d: [d["ops"][i].update(step=0) for i in _ops_where(d, "decode", 1)])
    with pytest.raises(UserError, match="no op is in the prefill phase"):
        load_with(lambda d: d.update(ops=[d["ops"][i] for i in _ops_where(d, "decode")]))


@pytest.mark.parametrize("ops, match", [
    ([], "has no operations"),
    (None, "ops must be a list of operations, got null"),
    ({"0": {}}, "ops must be a list of operations, got an object"),
])
def test_ops_must_be_a_non_empty_list(tmp_path, trace, ops, match):
    doc = io.trace_to_dict(trace) | {"ops": ops}
    with pytest.raises(UserError, match=match):
        io.load(_write(tmp_path, doc))
