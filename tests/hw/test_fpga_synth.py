"""FPGA synthesis (:mod:`hw.fpga`): resource counts, DSP cascade facts and ``synth --fpga``."""

from __future__ import annotations

from amaranth.hdl import C, ClockSignal, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.fpga import FPGA_FAMILIES, FpgaResult, dsp_facts, synthesize_fpga
from hw.verilog import generate


class MacChain(wiring.Component):
    """``stages`` registered multiply-adds ``p_i <= a_i * b_i + p_{i-1}`` (``p_0 <= a_0 * b_0``);
    ``stages=1`` is a registered ``a_bits`` × 18 signed multiply."""

    def __init__(self, stages: int, a_bits: int):
        self.stages = stages
        super().__init__({**{f"a{i}": In(signed(a_bits)) for i in range(stages)},
                          **{f"b{i}": In(signed(18)) for i in range(stages)},
                          "p": Out(signed(48))})

    def elaborate(self, platform):
        m = Module()
        previous = None
        for i in range(self.stages):
            p = Signal(signed(48), name=f"p{i}")
            product = getattr(self, f"a{i}") * getattr(self, f"b{i}")
            m.d.sync += p.eq(product if previous is None else product + previous)
            previous = p
        m.d.comb += self.p.eq(previous)
        return m


class InstantiatedCascade(wiring.Component):
    """Two DSP48E2 instances, A/M/P registered, the second adding the first's PCOUT on PCIN."""

    def __init__(self):
        super().__init__({"a0": In(30), "a1": In(30), "b0": In(18), "b1": In(18), "p": Out(48)})

    def elaborate(self, platform):
        m = Module()
        cascade = Signal(48)
        common = dict(p_AREG=1, p_BREG=1, p_MREG=1, p_PREG=1, p_CREG=0, i_CLK=ClockSignal(),
                      i_ALUMODE=C(0, 4), i_INMODE=C(0, 5), i_CARRYINSEL=C(0, 3), i_C=C(0, 48),
                      **{f"i_{ce}": C(1, 1) for ce in ("CEA1", "CEA2", "CEB1", "CEB2", "CEM", "CEP")})
        m.submodules.first = Instance("DSP48E2", **common, i_A=self.a0, i_B=self.b0,
                                      i_OPMODE=C(0b000000101, 9), o_PCOUT=cascade)
        m.submodules.second = Instance("DSP48E2", **common, i_A=self.a1, i_B=self.b1,
                                       i_PCIN=cascade, i_OPMODE=C(0b000010101, 9), o_P=self.p)
        return m


def _synth(component, top, family):
    return synthesize_fpga(generate(component, top, {}), family)


def test_one_multiplier_is_one_dsp48e2_with_its_register_in_fabric():
    result = _synth(MacChain(1, 27), "mul27x18", "xcup")
    assert result.dsp == result.cells["DSP48E2"] == 1
    assert result.pcascade_links == 0
    # Yosys 0.70 packs no DSP48E2 register: the 48-bit product register stays in FDREs.
    assert result.dsp_registers == {"AREG": 0, "MREG": 0, "PREG": 0}
    assert result.ff >= 45


def test_accumulation_chain_cascades_on_xc7_only():
    """The same chain (25-bit a: one DSP48E1 per product) packs its adders and P registers and
    forms PCOUT → PCIN links on xc7; on xcup its adders stay in fabric, with no cascade."""
    xcup = _synth(MacChain(3, 25), "chain3", "xcup")
    assert (xcup.dsp, xcup.pcascade_links, xcup.dsp_registers["PREG"]) == (3, 0, 0)
    assert xcup.carry > 0 and xcup.ff >= 3 * 43
    xc7 = _synth(MacChain(3, 25), "chain3", "xc7")
    assert xc7.cells["DSP48E1"] == xc7.dsp == 3
    assert xc7.pcascade_links == 2 and xc7.carry == 0


def test_instantiated_dsp48e2_cascade_is_kept_and_counted():
    result = _synth(InstantiatedCascade(), "dsp_pair", "xcup")
    assert result.dsp == 2 and result.pcascade_links == 1
    assert result.dsp_registers == {"AREG": 2, "MREG": 2, "PREG": 2}
    assert result.lut == result.ff == 0


def test_dsp_facts_read_integer_and_binary_parameters():
    """PCIN bits shared with another DSP's PCOUT make a link; constant bits, a DSP's own PCOUT
    and non-DSP cells do not; parameters are numbers or binary strings, unset ones the
    primitive's default (1)."""
    cells = {
        "d0": {"type": "DSP48E2", "parameters": {"AREG": "10", "MREG": 0, "PREG": "1"},
               "connections": {"PCOUT": [10, 11], "PCIN": ["0", "0"]}},
        "d1": {"type": "DSP48E2", "parameters": {"AREG": 0, "MREG": "0", "PREG": "0"},
               "connections": {"PCIN": [10, 11], "PCOUT": [20, 21]}},
        "d2": {"type": "DSP48E1", "parameters": {"AREG": "00"},
               "connections": {"PCIN": [30, 31], "PCOUT": [30, 31]}},
        "f": {"type": "FDRE", "parameters": {}, "connections": {"Q": [20]}},
    }
    links, registers = dsp_facts({"modules": {"top": {"cells": cells}}}, "top")
    assert links == 1
    assert registers == {"AREG": 1, "MREG": 1, "PREG": 2}


def test_resource_counts_from_cells():
    result = FpgaResult("t", "xcup", {"LUT1": 1, "LUT6": 2, "LUT6_2": 4, "FDRE": 3, "FDCE": 1,
                                      "CARRY8": 2, "CARRY4": 1, "RAMB18E2": 3, "RAMB36E2": 1,
                                      "URAM288": 2, "SRLC32E": 5, "SRL16E": 1, "RAM64X1D": 2,
                                      "RAM32M16": 1, "DSP48E2": 7, "IBUF": 9}, 0, {})
    assert (result.lut, result.ff, result.carry, result.dsp) == (3, 4, 3, 7)
    assert (result.bram, result.uram, result.srl, result.lutram) == (2.5, 2, 6, 3)


def test_synth_fpga_json_document(cli):
    result = cli("synth", "mixpe-baseline-int8-mac", "--fpga", "xcup", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["unit"] == "mixpe-baseline-int8-mac" and doc["family"] == "xcup"
    assert doc["family_name"] == FPGA_FAMILIES["xcup"]
    assert doc["dsp"] == doc["cells"]["DSP48E2"] == 1  # its one 8 × 8 multiplier
    assert doc["p_cascade_links"] == 0 and doc["dsp_preg"] == 0
    assert doc["ff"] > 0 and doc["carry"] > 0  # the accumulator, in fabric on xcup
    assert {"lut", "bram", "uram", "srl", "lutram", "dsp_mreg", "dsp_areg", "top", "params",
            "yosys", "p_cascade_why"} <= set(doc)
    assert "Yosys 0.70" in doc["note"] and "DSP48E2" in doc["note"]


def test_synth_fpga_table_for_pure_logic(cli):
    result = cli("synth", "olive-decoder", "--fpga", "xcup")
    assert result.code == 0, result.stderr
    assert "for xcup with Yosys synth_xilinx" in result.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in result.stdout.splitlines() if line.count("│") == 3}
    assert rows["DSP48"] == "0" and int(rows["LUT"]) > 0
    assert "P cascade: 0 PCOUT→PCIN links" in result.stdout


def test_unknown_fpga_family_exits_2_with_one_message(cli):
    result = cli("synth", "olive-decoder", "--fpga", "xc9")
    assert result.code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert all(family in result.stderr for family in FPGA_FAMILIES)
