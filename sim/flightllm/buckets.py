"""Length-adaptive compilation (papers/flightllm.md): programs are compiled for buckets of
lengths, not for every length — prefill lengths rounded up to a multiple of 128 and decode
contexts to a multiple of 16, up to 2,048 tokens: 16 prefill and 128 decode programs instead of
one per exact length.

A request runs the program of its bucket: a prefill of P tokens runs the ``prefill_bucket(P)``
program (padded to it), a decode step at context L the ``decode_bucket(L)`` one (attention over
the padded context). :func:`storage_ratio` compares the instruction storage of every exact-length
program with that of the buckets, for a given program size per length.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import UserError

PREFILL_STEP = 128
"""Prefill lengths are compiled in multiples of this many tokens."""
DECODE_STEP = 16
"""Decode contexts are compiled in multiples of this many tokens."""
MAX_LENGTH = 2048
"""Longest prefill and decode context compiled (tokens)."""


def _bucket(length: int, step: int, what: str) -> int:
    if not 1 <= length <= MAX_LENGTH:
        raise UserError(f"{what} must be from 1 to {MAX_LENGTH} tokens (the longest compiled "
                        f"program), got {length}")
    return -(-length // step) * step


def prefill_bucket(tokens: int) -> int:
    """The prefill program a prompt of ``tokens`` runs: the next multiple of 128."""
    return _bucket(tokens, PREFILL_STEP, "a prefill length")


def decode_bucket(context: int) -> int:
    """The decode program a step at ``context`` tokens runs: the next multiple of 16."""
    return _bucket(context, DECODE_STEP, "a decode context")


def prefill_buckets() -> tuple[int, ...]:
    """Every prefill program compiled: 128, 256, …, 2048 (16)."""
    return tuple(range(PREFILL_STEP, MAX_LENGTH + 1, PREFILL_STEP))


def decode_buckets() -> tuple[int, ...]:
    """Every decode program compiled: 16, 32, …, 2048 (128)."""
    return tuple(range(DECODE_STEP, MAX_LENGTH + 1, DECODE_STEP))


def storage_ratio(prefill_bytes: Callable[[int], float], decode_bytes: Callable[[int], float]) -> float:
    """Instruction bytes of one program per exact length (prefill 1…2048 and decode 1…2048)
    over those of the bucket programs, given each kind's program bytes at a length."""
    lengths = range(1, MAX_LENGTH + 1)
    exact = sum(map(prefill_bytes, lengths)) + sum(map(decode_bytes, lengths))
    bucketed = sum(map(prefill_bytes, prefill_buckets())) + sum(map(decode_bytes, decode_buckets()))
    return exact / bucketed
