"""Evaluation text that exists on every Python installation: ``pydoc_data.topics`` (≈ 465 kB)."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError


def default_text() -> str:
    """The English help texts of the Python documentation, in a fixed (sorted) order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def read_text(path: str | Path | None) -> str:
    """The user's text file, or the default text when ``path`` is ``None``."""
    if path is None:
        return default_text()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"text file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read text file {path}: {exc}") from None
    if not text.strip():
        raise UserError(f"text file {path} is empty")
    return text
