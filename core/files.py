"""Atomic output: a file, or a set of files, is either written completely or not at all.

Every output of tapeout goes through :func:`write_set`. An output location that cannot be
used (a destination that is a directory, a parent that is a file, no permission, a full disk)
is a :class:`UserError` naming the destination, raised before any destination is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from core.errors import UserError

Writer = Callable[[Path], None]
"""Writes a file's complete contents to the (temporary) path it is given."""


def write_set(writers: Mapping[str | os.PathLike, Writer]) -> list[Path]:
    """Write a set of files all-or-nothing; return their paths.

    Each ``writer(tmp)`` writes a temporary file beside its destination (missing parent
    directories are created). Only when every writer has succeeded are the temporaries renamed
    onto their destinations. If anything fails, every temporary and every directory created
    here is removed, and no destination is touched. (Every destination is checked before
    anything is written, so only a concurrent change can make a rename fail after another.)
    """
    members = {Path(path): write for path, write in writers.items()}
    refuse_unusable(members)
    created: list[Path] = []
    staged: dict[Path, Path] = {}
    try:
        for path, write in members.items():
            _make_parents(path, created)
            staged[path] = _stage(path, write)
        for path, tmp in staged.items():
            with _writing(path):
                os.replace(tmp, path)
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        _remove_empty(created)
        raise
    return list(members)


def write_files(contents: Mapping[str | os.PathLike, bytes | str]) -> list[Path]:
    """Write in-memory contents (``str`` as UTF-8) all-or-nothing, as :func:`write_set`."""
    return write_set({path: _content_writer(data) for path, data in contents.items()})


def refuse_unusable(paths: Iterable[str | os.PathLike]) -> None:
    """Raise the :class:`UserError` :func:`write_set` would raise before writing any of ``paths``
    (a destination that is a directory, a parent that is a file); call it before long work."""
    for path in paths:
        _refuse_unusable(Path(path))


def dumps_json(doc: Any) -> str:
    """``doc`` as stable JSON: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write_atomic(path: str | os.PathLike, write: Writer) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``.

    If ``write`` raises, the temporary file is removed and ``path`` is left untouched.
    """
    return write_set({path: write})[0]


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return write_files({path: data})[0]


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_files({path: text})[0]


def write_json_atomic(path: str | os.PathLike, doc: Any) -> Path:
    """Write ``doc`` as :func:`dumps_json`."""
    return write_files({path: dumps_json(doc)})[0]


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` met while writing ``path`` into a :class:`UserError` naming it."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def _refuse_unusable(path: Path) -> None:
    """Refuse a destination that is not a regular file, or whose nearest existing ancestor is
    not a directory; checked for every member before anything is written."""
    with _writing(path):
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is an existing directory")
        if path.exists() and not path.is_file():
            raise UserError(f"cannot write {path}: it exists and is not a regular file")
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise UserError(f"cannot write {path}: {ancestor} is not a directory")


def _make_parents(path: Path, created: list[Path]) -> None:
    """Create the missing parent directories of ``path``, appending each to ``created``."""
    missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    with _writing(path):
        for directory in reversed(missing):
            directory.mkdir()
            created.append(directory)


def _remove_empty(directories: list[Path]) -> None:
    """Remove ``directories`` (created by :func:`_make_parents`), deepest first, if empty."""
    for directory in reversed(directories):
        with contextlib.suppress(OSError):
            directory.rmdir()


def _stage(path: Path, write: Writer) -> Path:
    """Write ``path``'s contents to a new temporary beside it and return the temporary.

    The temporary keeps ``path``'s name as its end (writers that pick a format by suffix see
    the right one). Once written it gets the permissions a new file would: mkstemp makes 0600,
    and a writer may have replaced the file with its own 0600 temporary (safetensors does).
    """
    with _writing(path):
        fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{path.name}", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return tmp


def _content_writer(data: bytes | str) -> Writer:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return lambda tmp: tmp.write_bytes(raw)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
