"""OliVe outlier-victim pair (OVP) hardware: edge decoder, encoder, exponent-shift PE, array.

Facts and decisions: papers/olive.md. The number format itself (grids, codes, rules) lives in
:mod:`sim.formats.ovp`; these components implement it and are checked against it bit for bit.
"""
