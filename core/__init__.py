"""The bottom layer every package may import: user errors and atomic file writing.

It imports nothing of tapeout's own; everything else (targets, models, mapping, sim, hw,
tapeout) may import it.
"""
