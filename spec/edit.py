"""Edits of a target document by dotted key (``compute.rows``, ``buffers.weights.size``), the
way sensitivity runs and design-space sweeps derive a target from a shipped one.

An edit replaces one value in the YAML document before it is parsed, so the edited target is
validated exactly like a file (units, ranges, unknown keys). One rule keeps an edit physical:
changing the array's ``compute.rows`` or ``compute.cols`` scales every precision's
``macs_per_cycle`` with it — the MACs per PE stay what the PE does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from spec.yamlfile import SpecProblem

ARRAY_SIDES = ("compute.rows", "compute.cols")
"""Edits that resize the PE array (and with it every precision's MACs per cycle)."""


def edit_document(doc: Mapping[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of target document ``doc`` with ``edits`` (dotted key → value) applied.

    Raises :class:`SpecProblem` (key, reason) for a key whose sections do not exist in ``doc``,
    or an array side that is not a positive integer. A new leaf key is allowed (an optional
    field, a design parameter); the schema decides whether it is known.
    """
    out = copy.deepcopy(dict(doc))
    # array sides first: an explicit macs_per_cycle edit in the same set then wins, in any order
    ordered = sorted(edits.items(), key=lambda item: item[0] not in ARRAY_SIDES)
    for key, value in ordered:
        *parents, leaf = key.split(".")
        node = out
        for depth, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                where = ".".join(parents[:depth + 1])
                raise SpecProblem(key, f"the target has no {where!r} section")
            node = node[part]
        if key in ARRAY_SIDES:
            _resize(out, leaf, value, key)
        node[leaf] = value
    return out


def _resize(doc: dict, side: str, value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecProblem(key, f"an array side is a positive whole number of PEs, got {value!r}")
    old = doc["compute"].get(side)
    if not isinstance(old, int) or old < 1:
        raise SpecProblem(key, f"the target's compute.{side} is not a positive whole number")
    for precision in doc["compute"].get("precisions", {}).values():
        if isinstance(precision, dict) and isinstance(precision.get("macs_per_cycle"), int | float):
            precision["macs_per_cycle"] = precision["macs_per_cycle"] * value / old
