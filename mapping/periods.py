"""Finding identical periods of a loop as it is mapped, so an engine execution can skip them.

A mapper streams a loop into an :class:`~mapping.program.InstrSink`. Where it knows the next
iterations are alike by construction (the same index transitions and tile sizes), it offers
each boundary to :class:`Periods`; when the mapper's state (its *structure*: which tokens it
holds, the buffer slots up to relabelling, the resident output tile) and the schedule both
repeat, a :class:`~mapping.program.RepeatingSink` skips the remaining periods exactly
(:mod:`sim.engine` says why) and the mapper moves its own state on by the skipped iterations.
A :class:`~mapping.program.Program` never skips: it records every instruction.
"""

from __future__ import annotations

from collections.abc import Sequence

from mapping.program import InstrSink, RepeatingSink
from mapping.slots import Slots


def repeats(sink: InstrSink) -> bool:
    """Whether ``sink`` can skip periods (a :class:`~mapping.program.RepeatingSink`; checked by
    its method: ``isinstance`` on a protocol costs more than mapping a small op)."""
    return callable(getattr(sink, "fast_forward", None))


class Periods:
    """Boundaries of one loop, offered in order; ``lag``: the period length to look for, in
    iterations (1; a KV group of heads)."""

    __slots__ = ("sink", "lag", "history")

    def __init__(self, sink: RepeatingSink, lag: int = 1):
        self.sink, self.lag = sink, lag
        self.history: list[tuple[tuple, object, tuple[int, ...]]] = []

    def reset(self) -> None:
        """A new run of the loop: earlier boundaries are not comparable."""
        self.history.clear()

    def boundary(self, structure: tuple, tokens: tuple[int, ...], claims: tuple[int, ...],
                 remaining: int) -> tuple[int, tuple[int, ...]]:
        """Record the boundary before an iteration: the mapper's ``structure``, its live
        ``tokens`` (in a fixed order of roles), the buffer slots it claimed so far (per buffer)
        and how many alike iterations follow (``remaining``). Returns how many the sink
        skipped (whole periods) and the slot claims they would have made (per buffer)."""
        sink, history, lag = self.sink, self.history, self.lag
        snap = sink.snapshot(tokens)
        if len(history) >= lag and remaining >= lag:
            before, then, claimed = history[-lag]
            if before == structure and sink.period_shift(then, snap) is not None:
                periods = remaining // lag
                sink.fast_forward(then, snap, periods)
                history.clear()
                return periods * lag, tuple((now - was) * periods
                                            for now, was in zip(claims, claimed, strict=True))
        history.append((structure, snap, claims))
        if len(history) > lag:
            del history[0]
        return 0, ()

    def offer(self, slots: Sequence[Slots], held: tuple[int | None, ...], structure: tuple,
              remaining: int) -> int:
        """:meth:`boundary` for a mapper whose state is its buffers' ``slots``, the other tokens
        it ``held`` (``None``: not yet) and the rest of its ``structure``: slots are compared up
        to relabelling, and relabelled past the skipped iterations. Returns how many were skipped."""
        labels, live = [], []
        for s in slots:
            label, users = s.canonical()
            labels.append(label)
            live.extend(users)
        live.extend(held)
        skipped, claimed = self.boundary(
            (*labels, tuple(t is None for t in live), *structure),
            tuple(t for t in live if t is not None), tuple(s.claims for s in slots), remaining)
        if skipped:
            for s, claims in zip(slots, claimed, strict=True):
                s.relabel(claims)
        return skipped
