"""Compute models: each target's tile-cycle formula, selected by name (``compute.model``).

Importing the package registers the built-in models (``systolic-os``, ``systolic-ws``,
``gpu-roofline``); a design's own models register from its package (``sim/<design>/``).
"""

from sim.compute import roofline, systolic  # noqa: F401  (registers the built-in models)
from sim.compute.registry import ComputeModel, TileCost, get_compute_model, register_compute_model

__all__ = ["ComputeModel", "TileCost", "get_compute_model", "register_compute_model"]
