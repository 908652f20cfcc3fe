"""FlightLLM's configurable sparse DSP chain: its rules and cycle formula, shared by the
simulator and the RTL (:mod:`hw.flightllm`)."""
