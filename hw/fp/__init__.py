"""IEEE 754 binary floating point in hardware, design-neutral: adder, multiplier, integer →
float and format widening (combinational, round to nearest even, subnormals, one canonical NaN).

The golden model and the formats live in :mod:`hw.fp.format`; every unit is checked against it
bit for bit (:mod:`hw.fp.units`). Used by the designs' PEs and dequantizers.
"""
