"""Number formats: one module per format; :mod:`sim.formats.registry` names them."""

from sim.formats.registry import FORMATS, get_format

__all__ = ["FORMATS", "get_format"]
