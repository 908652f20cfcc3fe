"""Quantize one tensor file with a number format: codes, scales, metadata, decoded tensor, errors.

Input: a ``.npy`` holding a 2-D float ``[rows, K]`` tensor. Output: an ``.npz`` (written
atomically) with ``codes``, ``scales``, ``decoded`` (float32, the input's shape), every array of
the format's metadata as ``meta.<key>``, and ``meta_json`` (a JSON string: format, role, shape,
padding, storage bits and the format's scalar metadata, e.g. OVP pair counts).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.files import write_atomic
from sim.formats import get_format
from sim.formats.base import Role, check_scale


def load_tensor(path: Path) -> np.ndarray:
    """A 2-D float32 tensor from ``path`` (.npy); anything else (missing, a directory, not NPY,
    corrupt, object or non-real dtype, wrong rank, beyond float32 range) is a :class:`UserError`."""
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass a .npy tensor")
    if not path.is_file():
        raise UserError(f"{path}: no such file; pass a .npy tensor")
    npy = np.lib.format
    with open(path, "rb") as f:
        magic = f.read(len(npy.MAGIC_PREFIX))
        if magic.startswith(b"PK"):
            raise UserError(f"{path} is a .npz archive; pass one tensor as a .npy file")
        if magic != npy.MAGIC_PREFIX:
            raise UserError(f"{path}: not a readable .npy file (no NPY header)")
        f.seek(0)
        try:
            header = npy.read_array_header_1_0 if npy.read_magic(f) == (1, 0) else npy.read_array_header_2_0
            dtype = header(f)[2]
            if not dtype.hasobject:
                f.seek(0)
                x = npy.read_array(f, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise UserError(f"{path}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise UserError(f"{path}: object arrays are not supported; save a float array")
    if x.dtype.kind not in "fiu":
        raise UserError(f"{path}: expected a real-valued array, got {x.dtype}")
    if x.ndim != 2:
        raise UserError(f"{path}: expected a 2-D [rows, K] tensor, got shape {x.shape}")
    biggest = float(np.abs(x[np.isfinite(x)]).max(initial=0)) if x.dtype.kind == "f" else 0.0
    if biggest > float(np.finfo(np.float32).max):
        raise UserError(f"{path}: values exceed float32 range (max |x| = {biggest:.4g}); "
                        "tensors are quantized from float32")
    return x.astype(np.float32)


def error_stats(x: np.ndarray, decoded: np.ndarray) -> dict:
    """MSE, max |error| and SQNR (dB; ``inf`` when exact, ``-inf`` when ``x`` is all zero
    but ``decoded`` is not) of ``decoded`` against ``x`` (non-empty, finite float32), in float64."""
    err = decoded.astype(np.float64) - x.astype(np.float64)
    noise, signal = float((err**2).sum()), float((x.astype(np.float64) ** 2).sum())
    sqnr = math.inf if noise == 0 else (10 * (math.log10(signal) - math.log10(noise)) if signal
                                        else -math.inf)
    return {"mse": noise / x.size, "max_error": float(np.abs(err).max()), "sqnr_db": sqnr}


def _jsonable(meta: dict) -> tuple[dict, dict]:
    scalars, arrays = {}, {}
    for key, value in meta.items():
        (arrays if isinstance(value, np.ndarray) else scalars)[key] = value
    return scalars, arrays


def quantize_file(format_name: str, role: str, src: Path, dst: Path, *,
                  scale: float | None = None) -> dict:
    """Encode ``src`` with ``format_name`` as ``role``, write ``dst``; returns the statistics."""
    fmt = get_format(format_name)
    if not hasattr(fmt, "encode"):
        raise UserError(f"format {format_name!r} is a floating-point reference with no encoder; "
                        "pick a quantized format")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"--role must be 'weight' or 'activation', got {role!r}") from None
    if scale is not None:
        check_scale(scale, str(src))
    x = load_tensor(src)
    try:
        with np.errstate(over="raise"):
            enc = fmt.encode(x, role, name=str(src), scale=scale)
            decoded = fmt.decode(enc)
    except FloatingPointError:
        fixed = f", --scale {scale:g}" if scale is not None else ""
        raise UserError(f"{src}: {fmt.name} overflows float32 on this tensor (max |x| = "
                        f"{float(np.abs(x).max()):.4g}{fixed}); rescale the tensor") from None
    scalars, arrays = _jsonable(enc.meta)
    stats = {"format": fmt.name, "role": role.value, "input": str(src), "output": str(dst),
             "shape": list(enc.shape), "padded_per_row": enc.padded,
             "padded": enc.padded * enc.shape[0], "storage_bits": enc.bits,
             "bits_per_element": enc.bits_per_element(), **error_stats(x, decoded),
             "meta": scalars}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, codes=enc.codes, scales=enc.scales, decoded=decoded,
                     meta_json=np.array(json.dumps(stats, default=_plain)),
                     **{f"meta.{k}": v for k, v in arrays.items()})

    write_atomic(dst, write)
    return stats


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")
