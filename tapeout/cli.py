"""The ``tapeout`` command line: registers the commands and maps user errors to exit status 2.

An ``OSError`` that escapes a command (an unwritable output or cache directory, a full disk)
is a problem of the environment, not a bug: it too becomes one line on stderr and exit 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from rich.logging import RichHandler
from rich.markup import escape

from core.errors import EXIT_USER_ERROR, UserError
from tapeout.app import app, err
from tapeout.commands import (  # noqa: F401  (importing a command module registers its commands)
    accuracy,
    compile,
    hw,
    models,
    quantize,
    report,
    simulate,
    sweep,
    targets,
    trace,
)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; ``argv`` defaults to ``sys.argv[1:]``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True,
                        handlers=[RichHandler(console=err, show_time=False, show_path=False)])
    try:
        app(args=argv, prog_name="tapeout")
    except UserError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    except OSError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(describe_os_error(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)


def describe_os_error(exc: OSError) -> str:
    """One line: the file(s) involved, the reason, and which setting names them if it is the cache.

    E.g. ``cannot use /x/models: Permission denied (the model cache; set TAPEOUT_CACHE …)``.
    """
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    reason = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, FileExistsError) and names and not Path(names[0]).is_dir():
        reason = "it exists and is not a directory"
    if not names:
        return reason
    return f"cannot use {' → '.join(names)}: {reason}{_cache_hint(Path(names[0]))}"


def _cache_hint(path: Path) -> str:
    """A pointer to $TAPEOUT_CACHE when ``path`` is the cache directory or inside it, else ``""``."""
    from models.cache import cache_root

    root = cache_root().absolute()
    path = path.absolute()
    if path == root or root in path.parents:
        return f" (tapeout's cache is {root}; set TAPEOUT_CACHE to a writable directory)"
    return ""
