"""The ``tapeout`` command line: registers the commands and maps user errors to exit status 2."""

from __future__ import annotations

import logging
import sys

from rich.logging import RichHandler

from tapeout.app import app, err
from tapeout.commands import (  # noqa: F401  (importing a command module registers its commands)
    accuracy,
    hw,
    models,
    quantize,
    report,
    simulate,
    targets,
    trace,
)
from tapeout.errors import EXIT_USER_ERROR, UserError


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; ``argv`` defaults to ``sys.argv[1:]``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True,
                        handlers=[RichHandler(console=err, show_time=False, show_path=False)])
    try:
        app(args=argv, prog_name="tapeout")
    except UserError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
