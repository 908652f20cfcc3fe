"""Physical quantities written with their unit in target files: ``500 MHz``, ``128 KiB``, ``460 GB/s``.

Each parser returns the value in one base unit (Hz, bytes, bytes per second or per cycle, W)
and raises ``ValueError`` with the reason when the unit is missing or of the wrong kind or the
value is negative or not finite (checked after scaling: ``1e300 TB/s`` overflows); the target
loader turns that into a :class:`~core.errors.UserError` naming file and key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*$")

FREQUENCY = {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9}
SIZE = {"bit": 1 / 8, "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
        "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40}
RATE = {"B/s": 1.0, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12,
        "GiB/s": 2.0**30, "Gbit/s": 1e9 / 8}
PER_CYCLE = {"bit/cycle": 1 / 8, "B/cycle": 1.0}
POWER = {"uW": 1e-6, "µW": 1e-6, "mW": 1e-3, "W": 1.0, "kW": 1e3}


def _split(text: object, what: str) -> tuple[float, str]:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"expected a {what} with its unit (a string like the examples), got {text!r}")
    if not isinstance(text, str):
        raise ValueError(f"{text!r} has no unit; write the {what} with its unit")
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a number followed by a unit")
    value, unit = float(match.group(1)), (match.group(2) or "")
    if value < 0:
        raise ValueError(f"{text!r} is negative; a {what} must be ≥ 0")
    if not unit:
        raise ValueError(f"{text!r} has no unit; write the {what} with its unit")
    return value, unit


def _finite(text: object, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is too large (not a finite number)")
    return value


def _parse(text: object, what: str, table: dict[str, float]) -> float:
    value, unit = _split(text, what)
    if unit not in table:
        raise ValueError(f"{text!r}: unit {unit!r} is not a {what} unit (use one of {', '.join(table)})")
    return _finite(text, value * table[unit])


def bounded(parse: Callable[[object], float], low: str, high: str) -> Callable[[object], float]:
    """``parse`` that also requires ``low ≤ value ≤ high`` (limits written with their units)."""
    limits = parse(low), parse(high)

    def check(text: object) -> float:
        value = parse(text)
        if not limits[0] <= value <= limits[1]:
            raise ValueError(f"{text!r} is out of range: write a value from {low} to {high}")
        return value

    return check


def frequency_hz(text: object) -> float:
    """``'500 MHz'`` → 5e8 (Hz)."""
    return _parse(text, "frequency", FREQUENCY)


def size_bytes(text: object) -> float:
    """``'128 KiB'`` → 131072.0 (bytes); ``'1024 bit'`` → 128.0."""
    return _parse(text, "size", SIZE)


def power_watts(text: object) -> float:
    """``'485 mW'`` → 0.485 (W)."""
    return _parse(text, "power", POWER)


def bandwidth(text: object) -> tuple[float, bool]:
    """``'460 GB/s'`` → (4.6e11, False) bytes per second; ``'1024 bit/cycle'`` → (128.0, True)
    bytes per cycle of the target clock."""
    value, unit = _split(text, "bandwidth")
    if unit in RATE:
        return _finite(text, value * RATE[unit]), False
    if unit in PER_CYCLE:
        return _finite(text, value * PER_CYCLE[unit]), True
    raise ValueError(f"{text!r}: unit {unit!r} is not a bandwidth unit "
                     f"(use one of {', '.join([*RATE, *PER_CYCLE])})")
