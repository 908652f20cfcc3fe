"""`tapeout trace`: capture a model's operations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from core.errors import UserError
from tapeout.app import JsonOption, app, emit_json, human, out

if TYPE_CHECKING:
    import torch

    from models.trace.ops import Trace


DEFAULT_LENGTHS = (128, 4)
"""A causal text model's default prefill tokens and decode steps (see :func:`models.zoo.lengths`)."""


@app.command()
def trace(
    model: Annotated[str, typer.Argument(help="Zoo model name (see `tapeout models`).")],
    prefill: Annotated[int | None, typer.Option(help="Prompt tokens of the prefill pass (≥ 1; default 128). An image model takes exactly its token count, the default (vit-b16: 197, vit-h14: 257).", show_default=False)] = None,
    decode: Annotated[int | None, typer.Option(help="Decode steps after the prefill (≥ 0; default 4, 0 for encoders).", show_default=False)] = None,
    batch: Annotated[int, typer.Option(help="Sequences (images) processed together (≥ 1).")] = 1,
    tensors: Annotated[bool, typer.Option("--tensors", help="Record inputs, weights and outputs of the matrix ops (real models) into a safetensors file beside the trace.")] = False,
    tensor_ops: Annotated[str, typer.Option(help="With --tensors: record only ops whose name matches this glob.")] = "*",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the trace file here (.json, or .json.gz compressed).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Trace one prefill and DECODE decode steps: every operation in execution order."""
    from models.trace import io as trace_io
    from models.trace.tracer import trace_model
    from models.zoo import get_spec, lengths

    if tensors and output is None:
        raise UserError("--tensors writes a safetensors file beside the trace: give -o FILE")
    prefill, decode = lengths(get_spec(model), prefill, decode, DEFAULT_LENGTHS)
    result, recorded = trace_model(model, prefill, decode, batch=batch,
                                   tensors=tensor_ops if tensors else None)
    if output is not None:
        _save(result, recorded if tensors else None, output)
    summary = result.summary()
    if as_json:
        emit_json({"model": result.name, "architecture": result.model, "prefill": prefill,
                   "decode": decode, "batch": batch, "summary": summary,
                   "file": str(output) if output else None, "tensors": result.tensors,
                   "ops": [trace_io.op_to_dict(op) for op in result.ops]})
        return
    out.print(f"{result.name}: prefill {prefill}, decode {decode}, batch {batch}")
    table = Table()
    table.add_column("kind")
    table.add_column("ops", justify="right")
    for kind, count in summary["ops_per_kind"].items():
        table.add_row(kind, str(count))
    out.print(table)
    for phase, macs in summary["macs_per_phase"].items():
        out.print(f"MACs {phase}: {human(macs)}")
    out.print(f"weight bytes: {human(summary['weight_bytes'])}B ({result.model['dtype']})")
    if output:
        out.print(f"wrote {output}" + (f" and {output.parent / result.tensors}" if result.tensors else ""))


def _save(result: Trace, recorded: dict[str, torch.Tensor] | None, output: Path) -> None:
    """Write the trace file ``output`` and, when tensors were ``recorded``, the safetensors file
    beside it (named in the trace): both or neither."""
    from core.files import write_set
    from models.trace import io as trace_io
    from models.trace.tensors import save_tensors, tensors_path

    writers = {}
    if recorded is not None:
        path = tensors_path(output)
        if path == output:
            raise UserError(f"-o {output}: the trace and its tensors would share that name; "
                            "give a trace file name ending in .json or .json.gz")
        writers[path] = lambda tmp: save_tensors(recorded, tmp, name=path)
        result.tensors = path.name
    data = trace_io.encode(result, compress=output.suffix == ".gz")
    writers[output] = lambda tmp: tmp.write_bytes(data)
    write_set(writers)
