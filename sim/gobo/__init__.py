"""GOBO (Zadeh et al., MICRO 2020), OliVe's weight-only baseline: its accelerator and GPU models."""

from sim.gobo import compute  # noqa: F401  (registers ``gobo-systolic`` and ``gobo-gpu``)
