"""The ``tapeout`` Typer application and what every command shares.

Every command that prints results takes ``--json`` and then prints exactly one JSON document
on stdout (progress and log messages go to stderr). User errors exit with status 2.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    help="tapeout — co-design LLM accelerators: trace models, measure accuracy under number "
         "formats, simulate targets, generate and verify RTL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, nothing else.")]


def emit_json(doc: Any) -> None:
    """Print ``doc`` as strict JSON (non-finite floats become null)."""
    sys.stdout.write(json.dumps(_finite(doc), indent=2) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def human(n: float) -> str:
    """1234567 → '1.23 M'."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:g}"
