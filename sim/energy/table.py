"""Energy tables: ``sim/energy/*.yaml``, one per technology and source.

Every entry is the energy of one action in pJ, per ``bit``, ``access``, ``mac``, ``op`` or
``cycle``, with the publication it comes from and its technology node. A figure moved between
nodes states the scaling rule in ``scaling`` (never scaled silently)::

    name: ant-cacti-28nm
    description: …
    entries:
      dram.read: {pj: 0.63, per: bit, source: "…", node: "28 nm"}
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.errors import UserError
from spec.yamlfile import load_yaml, validate

TABLES_DIR = Path(__file__).parent


class EnergyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pj: float = Field(ge=0)
    per: Literal["bit", "access", "mac", "op", "cycle"]
    source: str = Field(min_length=1)
    node: str = Field(min_length=1)
    scaling: str | None = None


class EnergyTable(BaseModel):
    """Per-action energies (pJ) keyed by action name (``dram.read``, ``sram.weights.read``,
    ``mac.int8``, ``sfu.op`` …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    entries: dict[str, EnergyEntry] = Field(min_length=1)

    def pj(self, action: str) -> float:
        return self.entries[action].pj


def table_names() -> list[str]:
    return sorted(p.stem for p in TABLES_DIR.glob("*.yaml"))


@cache
def load_table(name: str, where: str = "energy") -> EnergyTable:
    """The table ``sim/energy/<name>.yaml``; problems are :class:`UserError` naming the key."""
    if name not in table_names():  # a plain name of a table in sim/energy/, never a path
        raise UserError(f"{where}: unknown energy table {name!r}; known tables: {', '.join(table_names())}")
    path = TABLES_DIR / f"{name}.yaml"
    table = validate(EnergyTable, load_yaml(path), str(path))
    if table.name != name:
        raise UserError(f"{path}: name: {table.name!r} differs from the file name {name!r}")
    return table
