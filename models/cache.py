"""A verified on-disk cache of converted artifacts.

Layout: ``<root>/<name>/`` holds the artifact files plus ``manifest.json`` with the key the
artifact was built from and the SHA-256 of every file. A directory whose manifest is missing,
whose key differs, or whose files do not hash to the manifest is rebuilt, never used.
Root: ``$TAPEOUT_CACHE`` if set, else the user cache directory (XDG on Linux).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import platformdirs

log = logging.getLogger("tapeout")

MANIFEST = "manifest.json"

_verified: dict[Path, str] = {}  # directories verified in this process → their manifest text


def cache_root() -> Path:
    env = os.environ.get("TAPEOUT_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("tapeout"))


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _problem(directory: Path, key: dict) -> str | None:
    """Why ``directory`` cannot be used (``None`` when it is intact and matches ``key``)."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return f"{manifest_path} is missing"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        stored_key = manifest["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{manifest_path} is unreadable"
    if stored_key != key:
        return f"{directory} was built from a different source"
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            return f"{path} is missing"
        if sha256_file(path) != digest:
            return f"{path} is damaged (SHA-256 mismatch)"
    return None


def cached_if_present(name: str, key: dict) -> Path | None:
    """The cache directory ``name`` if it exists, is intact and was built from ``key``; never
    builds it."""
    directory = cache_root() / name
    return directory if directory.is_dir() and _problem(directory, key) is None else None


def cached_dir(name: str, key: dict, build: Callable[[Path], None]) -> Path:
    """Return the verified cache directory ``name``, building it with ``build(tmpdir)`` if needed.

    ``key`` (JSON-serializable) identifies the source; a different key forces a rebuild.
    The build happens in a temporary directory that replaces the old one only when complete.
    """
    root = cache_root()
    directory = root / name
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (parallel test workers)
        if directory.is_dir():
            manifest = directory / MANIFEST
            if manifest.is_file() and _verified.get(directory) == manifest.read_text():
                return directory
            problem = _problem(directory, key)
            if problem is None:
                _verified[directory] = manifest.read_text()
                return directory
            log.warning("cache: %s; rebuilding", problem)
        _build(root, directory, key, build)
    return directory


def _build(root: Path, directory: Path, key: dict, build: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=root))
    try:
        build(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({"key": key, "files": files}, indent=2))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
