"""The per-block mixed format (``ant-mix``): which blocks take which format, and that every
operation is the chosen format's own."""

from __future__ import annotations

import numpy as np

from sim.formats import get_format
from sim.formats.base import Role

MIX = get_format("ant-mix")


def test_every_fifth_block_and_modules_outside_blocks_are_8_bit():
    names = [f"model.layers.{i}.mlp.up_proj" for i in range(10)]
    assert [MIX.part(n).name for n in names] == ["ant-w4a4"] * 4 + ["int8"] + ["ant-w4a4"] * 4 + ["int8"]
    assert MIX.part("vit.embeddings.patch_embeddings.projection").name == "int8"
    assert MIX.part("layers.3.qkv").name == "ant-w4a4"       # the paper-workload trace's names
    assert MIX.code_bits(Role.WEIGHT, "model.layers.0.self_attn.q_proj") == 4
    assert MIX.code_bits(Role.WEIGHT, "model.layers.4.self_attn.q_proj") == 8


def test_operations_are_the_chosen_formats():
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((8, 64)).astype(np.float32), rng.standard_normal((4, 64)).astype(np.float32)
    for layer, part in ((0, get_format("ant-w4a4")), (4, get_format("int8"))):
        name = f"model.layers.{layer}.mlp.down_proj"
        ew = MIX.encode(w, Role.WEIGHT, name=f"{name}.weight")
        ex = MIX.encode(x, Role.ACTIVATION, name=f"{name}.input", scale=float(np.abs(x).max() / 7))
        assert ew.format == part.name
        assert (MIX.decode(ew) == part.decode(part.encode(w, Role.WEIGHT, name=f"{name}.weight"))).all()
        assert (MIX.gemm(ex, ew) == part.gemm(ex, ew)).all()
    assert MIX.calibration_tokens == get_format("ant-w4a4").calibration_tokens


def test_calibrating_a_dynamic_part_gives_no_static_parameters():
    """The mix calibrates (its ANT part is static); its INT8 part quantizes dynamically, so the
    calibration of an INT8 layer is empty and encoding with it works (the accuracy report's
    activation path)."""
    from sim.formats.base import CalibrationSample
    from tapeout.report.accuracy import encode_activation

    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    sample = CalibrationSample()
    sample.add(x)
    assert MIX.calibrate(sample, name="model.layers.4.mlp.down_proj.input") == {}
    assert MIX.calibrate(sample, name="model.layers.0.mlp.down_proj.input")      # ANT's static scale
    enc = encode_activation(MIX, x, "model.layers.4.mlp.down_proj.input")
    assert enc.format == "int8"
