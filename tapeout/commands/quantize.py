"""`tapeout quantize`: encode one tensor with a number format and report the error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tapeout.app import JsonOption, app, emit_json, out


@app.command()
def quantize(
    tensor: Annotated[Path, typer.Argument(help="A 2-D float [rows, K] tensor (.npy).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write codes, scales, metadata and the decoded tensor (.npz).")],
    format: Annotated[str, typer.Option("--format", help="Number format (see `tapeout accuracy --format`).")],
    role: Annotated[str, typer.Option("--role", help="weight (rows = output channels) or activation (rows = tokens).")] = "weight",
    scale: Annotated[float | None, typer.Option(help="Fix the per-tensor scale (one step of the normal grid; a normal float32 up to 2.03e31) and skip calibration.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Encode a tensor: codes, scales, metadata and decoded values; prints error statistics."""
    from tapeout.quantize import quantize_file

    stats = quantize_file(format, role, tensor, output, scale=scale)
    if as_json:
        emit_json(stats)
        return
    rows, k = stats["shape"]
    out.print(escape(f"{stats['input']} [{rows}×{k}] as {stats['format']} {stats['role']} → "
                     f"{stats['output']}"))
    out.print(f"  MSE {stats['mse']:.4g}   max error {stats['max_error']:.4g}   "
              f"SQNR {stats['sqnr_db']:.2f} dB")
    out.print(f"  {stats['bits_per_element']:.4f} bits/element ({stats['storage_bits']} bits), "
              f"{stats['padded']} padding zeros")
    for key, value in stats["meta"].items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        out.print(escape(f"  {key}: {value}"))
