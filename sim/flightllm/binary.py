"""The file a compiled FlightLLM program is stored in (``.flb``; format in ``docs/flightllm-isa.md``).

Layout: the 8-byte magic ``TPFLISA1``, a little-endian u32 header length, the header (UTF-8
JSON: format version, target, model, phase, length, the precision names MM/MV codes index, word
count, and the SHA-256 of the rest of the header and the words), then the instruction words as
little-endian u32. A file that is not one, is truncated, has another format version, or whose
header or words do not match the hash is a :class:`UserError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from core.files import write_bytes_atomic

MAGIC = b"TPFLISA1"
MAX_HEADER = 1 << 20
"""Largest header accepted (bytes)."""
MAX_WORDS = 1 << 28
"""Largest program accepted (words: 1 GiB)."""
FORMAT_VERSION = 1
"""Version of the file layout and header this module writes and reads."""


def _sha(header: dict[str, Any], words: np.ndarray) -> str:
    """SHA-256 of the canonical header (without its hash) and the words."""
    head = json.dumps({k: v for k, v in header.items() if k != "sha256"}, sort_keys=True).encode()
    return hashlib.sha256(head + words.astype("<u4").tobytes()).hexdigest()


def to_bytes(header: dict[str, Any], words: np.ndarray) -> bytes:
    """The file contents of a program: ``header`` plus the format version, word count and hash."""
    doc = {**header, "format_version": FORMAT_VERSION, "words": int(words.size)}
    doc["sha256"] = _sha(doc, words)
    head = json.dumps(doc, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + words.astype("<u4").tobytes()


def write_program(path: str | os.PathLike, header: dict[str, Any], words: np.ndarray) -> Path:
    """Write a program file atomically (nothing half-written on failure)."""
    return write_bytes_atomic(path, to_bytes(header, words))


def read_program(path: str | os.PathLike) -> tuple[dict[str, Any], np.ndarray]:
    """The header and words of a program file."""
    path = Path(path)
    try:
        if not path.is_file():
            raise UserError(f"{path} is not a program file (not a regular file)")
        size = path.stat().st_size
        if size > len(MAGIC) + 4 + MAX_HEADER + 4 * MAX_WORDS:
            raise UserError(f"{path}: {size:,} bytes is larger than any program ({4 * MAX_WORDS:,} B of words)")
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.startswith(MAGIC):
        raise UserError(f"{path} is not a FlightLLM program (no {MAGIC.decode()} magic); "
                        f"compile one with `tapeout compile`")
    if len(data) < len(MAGIC) + 4:
        raise UserError(f"{path} is truncated (no header length)")
    (head_len,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    if head_len > MAX_HEADER or start + head_len > len(data):
        raise UserError(f"{path}: header length {head_len:,} exceeds the file")
    try:
        header = json.loads(data[start:start + head_len])
        count, digest = int(header["words"]), str(header["sha256"])
        precisions = header.get("precisions")
        if not isinstance(precisions, list) or not all(isinstance(p, str) for p in precisions):
            raise TypeError("precisions must be a list of names")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: corrupt header ({exc})") from None
    if header.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: format version {header.get('format_version')!r}; this tapeout reads "
                        f"version {FORMAT_VERSION} — recompile with `tapeout compile`")
    body = data[start + head_len:]
    if len(body) != 4 * count:
        raise UserError(f"{path}: the header promises {count:,} words but {len(body):,} bytes follow "
                        f"(truncated or padded)")
    words = np.frombuffer(body, dtype="<u4").astype(np.uint32)
    if _sha(header, words) != digest:
        raise UserError(f"{path}: the header and words do not match the header's SHA-256 (corrupt file)")
    return header, words
