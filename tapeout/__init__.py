"""tapeout — a workbench for co-designing LLM accelerators.

This package is the front door (CLI, pipeline, reports), the top of the layering: the work is
done by the sibling packages below it, ``core`` (errors, atomic files), ``spec`` (target
specifications), ``models`` (PyTorch models, traces, accuracy), ``mapping``, ``sim`` and ``hw``.
"""

__version__ = "0.1.0"
