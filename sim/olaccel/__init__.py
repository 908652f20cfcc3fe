"""OLAccel (Park et al., ISCA 2018), one of OliVe's and MixPE's baselines: its compute model."""

from sim.olaccel import compute  # noqa: F401  (registers the ``olaccel`` compute model)
