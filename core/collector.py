"""Pausing Python's cyclic garbage collector while building many objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (and restore its state after).

    Building a long trace creates millions of small acyclic objects; every full collection
    rescans all live objects, so the collector's cost grows with the trace (measured: half of
    the llama2-7b trace time, ``make bench``). Reference counting still frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
