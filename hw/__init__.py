"""Amaranth RTL (one folder per design), the RTL unit registry, bench drivers, Verilog
generation, Verilator, synthesis. The shipped target files live in ``hw/targets/``; their schema
is :mod:`spec`."""
