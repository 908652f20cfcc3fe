"""FlightLLM's configurable sparse DSP chain: its rules, cycle formula and compute model
(``flightllm-mpe``), shared by the simulator and the RTL (:mod:`hw.flightllm`)."""

from sim.flightllm import compute  # noqa: F401  (registers the ``flightllm-mpe`` compute model)
