"""tapeout — a workbench for co-designing LLM accelerators.

This package is the front door (CLI, pipeline, reports). The work is done by the sibling
packages ``models`` (PyTorch models, traces, accuracy), ``mapping``, ``sim`` and ``hw``.
"""

__version__ = "0.1.0"
