"""The named number formats (``--format``)."""

from __future__ import annotations

from sim.formats.floating import BF16, FP16, FP32
from tapeout.errors import UserError

FORMATS = {f.name: f for f in (FP32, FP16, BF16)}


def get_format(name: str):
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}") from None
