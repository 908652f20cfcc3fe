"""Pipeline helpers shared by the Amaranth designs."""

from __future__ import annotations

from amaranth import Module, Signal


def delay(m: Module, value, cycles: int, name: str):
    """``value`` through ``cycles`` registers in ``m``'s sync domain (``cycles`` = 0: itself);
    the registers are named ``<name>_d0`` … for waveforms."""
    for stage in range(cycles):
        reg = Signal.like(value, name=f"{name}_d{stage}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
