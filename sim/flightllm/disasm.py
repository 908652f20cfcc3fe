"""Human-readable FlightLLM programs: each instruction's kind, dependency tokens and fields,
with codes shown by name (buffer, operand, operation, precision, N:16)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import UserError
from sim.flightllm import isa
from sim.flightllm.tokens import named

_NAMES = {"buffer": isa.BUFFERS, "operand": isa.OPERANDS, "operation": isa.OPERATIONS}


def disassemble(words: Sequence[int], precisions: Sequence[str], limit: int | None = None) -> list[dict[str, Any]]:
    """One dict per instruction (the first ``limit``): ``index``, ``word`` (its first word),
    ``kind``, ``wait``/``release`` (module names) and ``fields`` (opcode and masks left out)."""
    words = [int(w) for w in words]
    lines = []
    for index, (kind, at) in enumerate(isa.split(words)):
        if limit is not None and index >= limit:
            break
        try:
            values = isa.decode_fields(kind, words[at:at + isa.WORDS[kind]])
        except UserError as exc:
            raise UserError(f"instruction {index} (word {at}): {exc}") from None
        fields: dict[str, Any] = {}
        for name, value in values.items():
            if name in ("opcode", "wait", "release"):
                continue
            table = precisions if name == "precision" else _NAMES.get(name)
            if table is not None:
                fields[name] = table[value] if value < len(table) else f"?{value}"
            elif name == "keep":
                fields["sparsity"] = f"{value}:{isa.SPARSITY_BLOCK}"
            elif name == "hbm_address":
                fields[name] = f"{value:#x}"
            else:
                fields[name] = value
        lines.append({"index": index, "word": at, "kind": kind, "wait": named(kind, values["wait"]),
                      "release": named(kind, values["release"]), "fields": fields})
    return lines
