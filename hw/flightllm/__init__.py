"""FlightLLM's configurable sparse DSP chain (papers/flightllm.md): RTL, bench vectors, units."""
