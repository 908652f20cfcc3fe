"""Benchmarks (``make bench``): speed and memory goals live here, not in timed unit tests."""
