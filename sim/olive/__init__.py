"""OliVe cycle model pieces shared by the simulator and the RTL benches."""

from sim.olive import compute  # noqa: F401  (registers the ``olive-systolic`` compute model)
