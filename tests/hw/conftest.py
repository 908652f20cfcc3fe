"""Fixtures shared by the RTL unit tests."""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator


@pytest.fixture
def run_sim():
    """``run_sim(dut, testbench, clock=True)``: run an Amaranth async testbench on ``dut``, with
    a 1 MHz clock on its sync domain unless ``clock`` is false (combinational units)."""
    def run(dut, testbench, clock: bool = True) -> None:
        sim = Simulator(dut)
        if clock:
            sim.add_clock(1e-6)
        sim.add_testbench(testbench)
        sim.run()
    return run
