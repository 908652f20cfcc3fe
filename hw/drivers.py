"""Bench drivers that run inside the simulator: what every unit's cocotb bench is made of.

A design's bench module (``hw/<design>/benches/*.py``) is one ``@cocotb.test()`` that reads the
host's arrays (:func:`bench_inputs`), hands them to one of the three drivers with its port names
and widths, and saves what the driver read (:func:`save_bench_outputs`):

- :func:`combinational`: set the inputs, let them settle, read the outputs (no clock);
- :func:`stream`: one vector per cycle into a pipelined unit, outputs read ``latency`` cycles
  later;
- :func:`tiles`: whole tiles — per-tile settings, then one beat per cycle with the tile protocol
  ``valid`` / ``first`` / ``last``, then wait for ``done`` — counting the cycles of each tile.

Inputs change on the falling clock edge and outputs are read on it, so every value is stable
around the rising edge that samples it. A port given as ``(lanes, bits)`` is packed: lane ``i``
of a vector occupies bits ``[i·bits, (i + 1)·bits)`` of the port, two's complement.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BENCH_DIR_ENV = "TAPEOUT_BENCH_DIR"
CLOCK_PERIOD_NS = 10
"""Bench clock period; the value is arbitrary, cycles are what the benches measure."""
TIMEOUT_CYCLES = 100_000
"""Cycles :func:`tiles` waits for ``done`` before failing the bench."""

Drive = np.ndarray | tuple[np.ndarray, int]
"""Values of one input port per vector: plain integers, or ``(lanes, bits)`` to pack."""


def bench_inputs() -> dict[str, np.ndarray]:
    """The arrays the host passed to :func:`hw.cocotb_bench.run_bench`."""
    with np.load(Path(os.environ[BENCH_DIR_ENV]) / "inputs.npz") as data:
        return {k: data[k] for k in data.files}


def save_bench_outputs(outputs: dict[str, np.ndarray]) -> None:
    """Hand the arrays the bench read back to the host."""
    np.savez(Path(os.environ[BENCH_DIR_ENV]) / "outputs.npz", **outputs)


def pack(lanes, bits: int) -> int:
    """Lanes of one vector as one port value (lane 0 lowest, each two's complement)."""
    mask = (1 << bits) - 1
    word = 0
    for index, lane in enumerate(np.ravel(lanes)):
        word |= (int(lane) & mask) << (bits * index)
    return word


def unpack(word: int, bits: int, count: int) -> np.ndarray:
    """``count`` unsigned ``bits``-wide lanes of a port value (lane 0 lowest)."""
    mask = (1 << bits) - 1
    return np.array([(word >> (bits * i)) & mask for i in range(count)], dtype=np.int64)


def _value(drive: Drive, index) -> int:
    if isinstance(drive, tuple):
        lanes, bits = drive
        return pack(lanes[index], bits)
    return int(drive[index])


def _values(drive: dict[str, Drive]) -> np.ndarray:
    """The array of the first port of ``drive`` (its leading axes count vectors)."""
    first = next(iter(drive.values()))
    return first[0] if isinstance(first, tuple) else first


def _length(drive: dict[str, Drive]) -> int:
    return len(_values(drive))


def _apply(dut, drive: dict[str, Drive], index) -> None:
    for port, values in drive.items():
        getattr(dut, port).value = _value(values, index)


def _hold(dut, hold: dict[str, int] | None) -> None:
    """Set the ports ``hold`` keeps at one value for a whole run (before the clock starts)."""
    for port, value in (hold or {}).items():
        getattr(dut, port).value = value


def _read(dut, sample: dict[str, bool]) -> dict[str, int]:
    """Current value of each port in ``sample`` (``True``: read it as signed)."""
    return {port: (getattr(dut, port).value.to_signed() if signed
                   else getattr(dut, port).value.to_unsigned())
            for port, signed in sample.items()}


async def start_clock(dut) -> None:
    """Start the bench clock on ``dut.clk`` and hold ``dut.rst`` for two cycles."""
    from cocotb.clock import Clock
    from cocotb.triggers import RisingEdge

    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def combinational(dut, drive: dict[str, Drive], sample: dict[str, bool], *,
                        settle_ns: int = 1) -> dict[str, np.ndarray]:
    """Each vector of ``drive`` applied, ``settle_ns`` later every ``sample`` port read."""
    from cocotb.triggers import Timer

    n = _length(drive)
    out = {port: np.zeros(n, dtype=np.int64) for port in sample}
    for t in range(n):
        _apply(dut, drive, t)
        await Timer(settle_ns, unit="ns")
        for port, value in _read(dut, sample).items():
            out[port][t] = value
    return out


async def stream(dut, drive: dict[str, Drive], sample: dict[str, bool], *,
                 hold: dict[str, int] | None = None, latency: int = 1) -> dict[str, np.ndarray]:
    """One vector of ``drive`` per cycle (``hold``: ports set once, before the clock starts);
    the ``sample`` ports of vector ``t`` are read ``latency`` cycles after it was presented."""
    from cocotb.triggers import FallingEdge

    n = _length(drive)
    out = {port: np.zeros(n, dtype=np.int64) for port in sample}
    _hold(dut, hold)
    await start_clock(dut)
    for t in range(n + latency):
        await FallingEdge(dut.clk)
        if t >= latency:
            for port, value in _read(dut, sample).items():
                out[port][t - latency] = value
        if t < n:
            _apply(dut, drive, t)
    return out


async def tiles(dut, *, beats: dict[str, Drive], per_tile: dict[str, np.ndarray],
                result: str | tuple[str, ...], result_bits: int, hold: dict[str, int] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Run whole tiles: ``beats`` ports hold ``[tiles, beats, …]`` values, one beat per cycle
    with ``valid`` high, ``first`` on the first beat and ``last`` on the last; ``per_tile``
    ports are set before a tile's first beat; ``hold`` ports once before the clock starts.

    Returns the ``result`` port (or ports, one after another) split into ``result_bits``-wide
    unsigned fields ``[tiles, fields]`` as it stands when ``done`` is high, and the cycles of
    each tile: rising edges from the one that samples its first beat to the one after which
    ``done`` is high, inclusive.
    """
    from cocotb.triggers import FallingEdge

    count_tiles, count_beats = _values(beats).shape[:2]
    ports = [getattr(dut, name) for name in ((result,) if isinstance(result, str) else result)]
    widths = [len(port.value) // result_bits for port in ports]
    fields = sum(widths)
    results = np.zeros((count_tiles, fields), dtype=np.int64)
    cycles = np.zeros(count_tiles, dtype=np.int64)
    _hold(dut, hold)
    await start_clock(dut)
    for tile in range(count_tiles):
        await FallingEdge(dut.clk)
        for port, values in per_tile.items():
            getattr(dut, port).value = int(values[tile])
        count = 0
        for beat in range(count_beats):
            if beat:
                await FallingEdge(dut.clk)
                count += 1
            _apply(dut, beats, (tile, beat))
            dut.valid.value = 1
            dut.first.value = int(beat == 0)
            dut.last.value = int(beat == count_beats - 1)
        while True:
            await FallingEdge(dut.clk)
            count += 1
            dut.valid.value = dut.first.value = dut.last.value = 0
            if int(dut.done.value):
                break
            assert count < TIMEOUT_CYCLES, f"{result}: done never came"
        cycles[tile] = count
        results[tile] = np.concatenate([unpack(port.value.to_unsigned(), result_bits, width)
                                        for port, width in zip(ports, widths, strict=True)])
    return results, cycles
