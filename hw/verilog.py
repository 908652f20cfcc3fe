"""Amaranth 0.5 component → Verilog text plus a description of its parameters and ports.

Every design in ``hw/`` goes through :func:`generate`; the result feeds the Verilator build
cache (:mod:`hw.verilator`), the ``tapeout verilog`` command and synthesis (:mod:`hw.synth`).
Source locations are left out of the Verilog so its text, and hence the build-cache key,
depends only on the logic and the parameters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog
from amaranth.hdl import Shape, Value, ValueCastable
from amaranth.lib import wiring

from core.files import dumps_json, write_files


@dataclass(frozen=True)
class Port:
    """One top-level port: ``name`` as it appears in the Verilog, ``direction`` "in" | "out",
    ``width`` in bits, ``signed``."""

    name: str
    direction: str
    width: int
    signed: bool


@dataclass(frozen=True)
class GeneratedVerilog:
    """Verilog of one top module ``top`` with the ``parameters`` it was elaborated from."""

    top: str
    text: str
    parameters: dict
    ports: tuple[Port, ...] = field(default_factory=tuple)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def description(self) -> dict:
        """The JSON written beside the Verilog: top module, parameters, ports, text hash."""
        return {"top": self.top, "parameters": self.parameters, "sha256": self.sha256,
                "ports": [{"name": p.name, "direction": p.direction, "width": p.width,
                           "signed": p.signed} for p in self.ports]}

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``<top>.v`` and ``<top>.json`` into ``directory``: both or neither."""
        directory = Path(directory)
        v, j = write_files({directory / f"{self.top}.v": self.text,
                            directory / f"{self.top}.json": dumps_json(self.description())})
        return v, j


def ports_of(component: wiring.Component) -> tuple[Port, ...]:
    """The component's signature flattened the way :func:`amaranth.back.verilog.convert` names
    ports (path members joined by ``__``)."""
    ports = []
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        assert isinstance(value, Value)
        shape = Shape.cast(value.shape())
        ports.append(Port("__".join(map(str, path)),
                          "in" if member.flow == wiring.In else "out",
                          shape.width, shape.signed))
    return tuple(ports)


def generate(component: wiring.Component, top: str, parameters: dict) -> GeneratedVerilog:
    """Convert ``component`` to Verilog with top module ``top``; ports come from its signature.

    The component gets a synchronous ``clk``/``rst`` pair when it uses the ``sync`` domain.
    """
    text = amaranth_verilog.convert(component, name=top, emit_src=False,
                                    strip_internal_attrs=True)
    return GeneratedVerilog(top, text, dict(parameters), ports_of(component))
