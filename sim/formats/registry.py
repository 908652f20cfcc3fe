"""The named number formats (``--format``)."""

from __future__ import annotations

from core.errors import UserError
from sim.formats.adafloat import ADAFLOAT_W8A8
from sim.formats.ant import ANT_MIX, ANT_W4A4
from sim.formats.flightllm import FLIGHTLLM_W4S
from sim.formats.floating import BF16, FP16, FP32
from sim.formats.gobo import GOBO_W3, GOBO_W4
from sim.formats.intq import INT4, INT8
from sim.formats.mixpe import MIXPE_W4A8, MIXPE_W4A16
from sim.formats.olaccel import OLACCEL_W4A4
from sim.formats.ovp import OLIVE_W4A4, OLIVE_W8A8

FORMATS = {f.name: f for f in (FP32, FP16, BF16,
                                INT8, INT4, OLIVE_W4A4, OLIVE_W8A8,
                                ANT_W4A4, ANT_MIX, OLACCEL_W4A4, ADAFLOAT_W8A8,
                                MIXPE_W4A8, MIXPE_W4A16, FLIGHTLLM_W4S, GOBO_W3, GOBO_W4)}


def get_format(name: str):
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}") from None
