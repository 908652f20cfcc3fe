"""Amaranth RTL, target specifications, Verilog generation, cocotb benches, synthesis."""
