"""Compute models: each target's tile-cycle formula, selected by name (``compute.model``)."""

from sim.compute.registry import ComputeModel, TileCost, get_compute_model, register_compute_model

__all__ = ["ComputeModel", "TileCost", "get_compute_model", "register_compute_model"]
