"""MixPE cycle model pieces shared by the simulator and the RTL benches."""

from sim.mixpe import compute  # noqa: F401  (registers the ``mixpe`` compute model)
