"""The slots of one on-chip buffer (two when double buffered): which tile each holds and which
instruction read it last, so a load into a slot waits until the slot's previous tile is done."""

from __future__ import annotations

from collections.abc import Callable

from mapping.program import Instr, Opcode


class Slots:
    """Double- (or single-) buffered slots of one buffer. ``current``: the key of the tile
    loaded last; ``loaded_at``: the token of its load; ``last_user[s]``: the token of the last
    instruction that read slot ``s``; ``slot``: the slot claimed last; ``claims``: how many."""

    __slots__ = ("count", "current", "loaded_at", "next", "last_user", "slot", "claims")

    def __init__(self, count: int):
        self.count = count
        self.current: object = None
        self.loaded_at: int | None = None
        self.next = 0
        self.last_user: list[int | None] = [None] * count
        self.slot = 0
        self.claims = 0

    def claim(self) -> tuple[int, ...]:
        """Take the next slot for a new tile; returns the token that frees it (if any)."""
        self.slot = slot = self.next
        self.next = (slot + 1) % self.count
        self.claims += 1
        user = self.last_user[slot]
        return () if user is None else (user,)

    def fill(self, emit: Callable[[Instr], int], key: object, buffer: str, operand: str,
             nbytes: int, offset: int) -> None:
        """Load tile ``key`` (``nbytes`` of ``operand`` at ``offset``) into the next slot,
        unless it is the tile loaded last (still resident)."""
        if key != self.current:
            free = self.claim()
            self.loaded_at = emit(Instr(Opcode.LOAD, waits=free, buffer=buffer, bytes=nbytes,
                                        operand=operand, offset=offset, slot=self.slot))
            self.current = key

    def canonical(self) -> tuple[int, list[int | None]]:
        """The slots relabelled so the next to be claimed is slot 0 (labels do not change the
        schedule): the current slot in that labelling, and the last users in slot order."""
        n, count = self.next, self.count
        if count == 1:
            return 0, self.last_user
        return (self.slot - n) % count, [self.last_user[(n + i) % count] for i in range(count)]

    def relabel(self, claims: int) -> None:
        """Move on by ``claims`` more claims in the pattern so far: every label shifts by them
        (the tokens stay: the skipped claims' users are the latest ones, moved in time)."""
        count = self.count
        by = claims % count
        if by:
            self.next, self.slot = (self.next + by) % count, (self.slot + by) % count
            self.last_user = [self.last_user[(i - by) % count] for i in range(count)]
        self.claims += claims
