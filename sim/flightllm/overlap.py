"""Always-on-chip decode (papers/flightllm.md): a decode step's op groups joined into one
program with a SYS barrier only between layers, so the next op's weight loads overlap the
current op's compute.

The groups are the programs :meth:`sim.simulate.Simulator.program` maps, one per op group,
each written as if it ran alone. Joining them without barriers inside a layer needs exactly
these dependencies (any other instruction order is kept by the in-order modules):

1. **Data.** Every compute instruction (MM, MV, MISC) of a group waits for the last compute
   instruction of the group before it: its input is that group's output.
2. **Activations stay on chip.** Loads of activations (operands ``a``, ``in`` and the fused
   operands ``x…``) are dropped: the data is already in the on-chip buffers, rule 1 orders it.
   Stores are kept, as write-backs (rule 5). The embedding's loads stay: they gather rows of its
   table in HBM.
3. **Buffer slots.** Each group's mapper starts its slots at 0; the weight and output slots
   are renumbered to continue the previous group's round robin, so consecutive ops use
   alternate slots (a vector op's chunks use one slot of the input and output buffers alike).
   The first time a group touches a (buffer, slot), it waits for the last instruction of an
   earlier group that touched it (a load filling it, a tile reading or accumulating in it, a
   store draining it).
4. **Prefetch.** A group's leading loads of weights or K/V cache (before its first compute
   instruction) are issued right after the previous group's first compute instruction — or an
   earlier group's in the same layer, when nothing would be loaded in between (vector ops load
   nothing on chip) — provided every wait they have points before that place; otherwise they
   stay where they are. The loads and stores share one in-order memory unit, so without this
   move a load would queue behind the previous op's stores, which wait for its compute.
5. **Write-back at the layer's end.** Stores of op outputs (operands ``c``, ``out``) write
   back from the on-chip activations, not from an output slot (``from_activations``: the ST's
   ``source`` bit): they are issued together at the end of the layer, before its barrier, as the
   artifact's decode programs store once per layer boundary, so the memory unit never waits for
   compute while loads are pending. An instruction that waited for such a store to free its slot
   waits instead for what the store waited for (the compute that read the slot last). Spills of
   partial sums (``p``) stay where they are. The new token's key and value reach attention on
   chip; the rows this step writes back are read by later steps only.
6. **Layers.** A SYS barrier between layers (and around the ops outside them) waits for
   everything before it; every instruction after it waits for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from mapping.program import Instr, Opcode, Program
from models.trace.ops import Op, OpKind

COMPUTE = (Opcode.MATMUL, Opcode.MATVEC, Opcode.MISC)
ON_CHIP = ("a", "in", "x0", "x1", "x2", "x3")
"""Operands that are activations (dropped when loaded: they stay on chip)."""
WRITTEN_BACK = ("c", "out")
"""Operands whose stores write an op's output back from the on-chip activations."""


def stays_on_chip(ins: Instr, head: Op) -> bool:
    """Whether the load ``ins`` of the group led by ``head`` is dropped (rule 2)."""
    return ins.opcode is Opcode.LOAD and ins.operand in ON_CHIP and head.kind is not OpKind.EMBEDDING

Entry = tuple[int, int]
"""(group, instruction index in the group); a barrier is (group, -1)."""


def _local_waits(e: Entry, groups: Sequence[tuple[Op, Program]], dropped: set[Entry],
                 written_back: set[Entry]) -> set[Entry]:
    """The in-group waits of ``e``: a dropped load's are gone (rule 2); a written-back store's
    are replaced by what the store waited for (rule 5: what it drained must still be done
    before its slot is reused)."""
    g, i = e
    instrs = groups[g][1].instrs
    found: set[Entry] = set()
    pending = list(instrs[i].waits)
    while pending:
        w = pending.pop()
        if (g, w) in written_back:
            pending.extend(instrs[w].waits)
        elif (g, w) not in dropped:
            found.add((g, w))
    return found


def _loads(entries: list[Entry], instr: dict[Entry, Instr]) -> bool:
    return any(instr[e].opcode is Opcode.LOAD for e in entries)


def _waits_before(lead: list[Entry], extra: dict[Entry, list[Entry]], program: Program,
                  dropped: set[Entry], g: int, target: int, first_compute: int,
                  barrier: Entry | None) -> bool:
    """Whether every wait of group ``g``'s ``lead`` loads points before group ``target``'s first
    compute instruction (their own group's waits: only on each other or on dropped loads)."""
    return all(w[0] < target or (w[0] == target and w[1] <= first_compute) or w == barrier
               for e in lead for w in extra[e]) and all(
        (g, w) in lead or (g, w) in dropped for e in lead for w in program.instrs[e[1]].waits)


def _touches(ins: Instr, slot: int, reads: tuple[int, int], vector_group: bool) -> list[tuple[str, int]]:
    """The (buffer, slot) pairs ``ins`` (renumbered to ``slot``, ``reads``) fills, reads or
    accumulates in (a matrix tile's input slot does not count: its activations are on chip)."""
    op = ins.opcode
    if op is Opcode.LOAD:
        return [(ins.buffer, slot)]
    if op is Opcode.STORE:
        return [("outputs", slot)]
    if op is Opcode.MISC:
        return [("outputs", slot)] + ([("inputs", slot)] if vector_group else [])
    if op in (Opcode.MATMUL, Opcode.MATVEC):
        return [("outputs", slot), ("weights", reads[1])]
    return []


def join_overlapped(groups: Sequence[tuple[Op, Program]], weight_slots: int,
                    output_slots: int) -> tuple[Program, list[Entry]]:
    """One program of a decode step's ``groups`` (module docstring); also, for each of its
    instructions, the entry it came from (for addresses)."""
    pre: list[list[Entry]] = []        # per group: entries up to its first compute instruction
    hoisted: list[list[Entry]] = []    # per group: the next group's prefetched loads
    post: list[list[Entry]] = []       # per group: the rest but its trailing stores
    layer_stores: list[Entry] = []     # the layer's trailing stores, issued before its barrier
    instr: dict[Entry, Instr] = {}
    renumbered: dict[Entry, tuple[int, tuple[int, int]]] = {}   # (slot, reads) after rule 3
    extra: dict[Entry, list[Entry]] = {}
    dropped: set[Entry] = set()
    written_back: set[Entry] = set()    # stores, issued at the layer's end
    last_touch: dict[tuple[str, int], Entry] = {}
    barrier: Entry | None = None
    layer: object = object()
    previous_compute: Entry | None = None
    first_computes: list[int] = []
    layer_first = 0
    shift = out_shift = 0
    everything: list[Entry] = []

    for g, (head, program) in enumerate(groups):
        start_layer = head.layer != layer
        layer = head.layer
        if start_layer:
            layer_first = g
        if start_layer and everything:
            barrier = (g, -1)
            instr[barrier] = Instr(Opcode.SYNC)
            extra[barrier] = list(everything)
            post[-1].extend(layer_stores + [barrier])
            layer_stores = []
            everything.append(barrier)
            previous_compute = None
        vector_group = not head.is_matrix
        first_touch: dict[tuple[str, int], Entry] = {}
        group_last: dict[tuple[str, int], Entry] = {}
        first_compute = next(i for i, ins in enumerate(program.instrs) if ins.opcode in COMPUTE)
        last_slot = last_out = None
        group_pre: list[Entry] = []
        group_post: list[Entry] = []
        for i, ins in enumerate(program.instrs):
            entry = (g, i)
            if stays_on_chip(ins, head):
                dropped.add(entry)
                continue
            slot, reads = ins.slot, ins.reads
            if ins.opcode is Opcode.LOAD and ins.buffer == "weights":
                slot = last_slot = (slot + shift) % weight_slots
            elif ins.opcode is not Opcode.SYNC:
                slot = last_out = (slot + out_shift) % output_slots
            if ins.opcode in (Opcode.MATMUL, Opcode.MATVEC):
                reads = (reads[0], (reads[1] + shift) % weight_slots)
            instr[entry] = ins
            renumbered[entry] = (slot, reads)
            waits = extra.setdefault(entry, [])
            if barrier is not None:
                waits.append(barrier)
            if ins.opcode in COMPUTE and previous_compute is not None:
                waits.append(previous_compute)
            if ins.opcode is Opcode.STORE and ins.operand in WRITTEN_BACK:
                written_back.add(entry)
                layer_stores.append(entry)
                everything.append(entry)
                instr[entry] = ins.moved(ins.waits, from_activations=True)
                extra.setdefault(entry, [])
                continue
            for key in _touches(ins, slot, reads, vector_group):
                if key not in first_touch:
                    first_touch[key] = entry
                    if key in last_touch:
                        waits.append(last_touch[key])
                group_last[key] = entry
            (group_pre if i <= first_compute else group_post).append(entry)
        if last_slot is not None:
            shift = (last_slot + 1) % weight_slots
        if last_out is not None:
            out_shift = (last_out + 1) % output_slots
        # prefetch: leading weight / K-V loads move behind an earlier group's first compute
        lead = [e for e in group_pre if instr[e].opcode is Opcode.LOAD and instr[e].buffer == "weights"]
        target = None
        t = g - 1
        while lead and t >= layer_first and _waits_before(lead, extra, program, dropped, g, t,
                                                          first_computes[t], barrier):
            target = t
            if t == layer_first or _loads(pre[t], instr) or _loads(post[t - 1], instr):
                break
            t -= 1      # nothing would be loaded between there and here: go further back
        movable = target is not None
        if movable:
            hoisted[target].extend(lead)
            group_pre = [e for e in group_pre if e not in lead]
        pre.append(group_pre)
        hoisted.append([])
        post.append(group_post)
        everything.extend(group_pre + group_post + (lead if movable else []))
        first_computes.append(first_compute)
        last_touch.update(group_last)
        previous_compute = max((e for e in group_pre + group_post if instr[e].opcode in COMPUTE), key=lambda e: e[1])

    order = [e for g in range(len(groups))
             for e in pre[g] + hoisted[g] + post[g]] + layer_stores
    index = {e: i for i, e in enumerate(order)}
    out = Program()
    for e in order:
        ins = instr[e]
        local = () if e[1] < 0 else tuple(index[p] for p in _local_waits(e, groups, dropped, written_back))
        waits = tuple(sorted(set(local) | {index[w] for w in extra[e]}))
        if waits and waits[-1] >= len(out.instrs):
            raise RuntimeError(f"instruction {e} would wait for a later one: the join is wrong")
        if e in renumbered:
            slot, reads = renumbered[e]
            out.instrs.append(ins.moved(waits, slot, reads))
        else:
            out.instrs.append(ins.moved(waits))
    return out, order
