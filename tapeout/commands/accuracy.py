"""`tapeout accuracy`: perplexity under a number format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tapeout.app import JsonOption, app, emit_json, err, out


@app.command()
def accuracy(
    model: Annotated[str, typer.Argument(help="A zoo model with trained weights.")],
    format: Annotated[str, typer.Option("--format", help="Number format applied to every linear layer.")] = "fp32",
    tokens: Annotated[int, typer.Option(help="Tokens whose prediction is scored.")] = 4096,
    text: Annotated[Path | None, typer.Option(help="UTF-8 text file to evaluate on (default: Python's pydoc_data.topics).")] = None,
    window: Annotated[int, typer.Option(help="Tokens per forward pass.")] = 512,
    stride: Annotated[int, typer.Option(help="Window start spacing; each scored token sees ≥ window − stride tokens of context.")] = 256,
    as_json: JsonOption = False,
) -> None:
    """Perplexity of a trained causal LM over evaluation text, under a number format."""
    from rich.progress import Progress

    from tapeout.accuracy import evaluate

    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(escape(f"{model} [{format}]"), total=None)
        result = evaluate(model, format, tokens=tokens, text=str(text) if text else None,
                          window=window, stride=stride,
                          progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        emit_json(result)
        return
    out.print(escape(f"{model} [{format}]") + f": perplexity [bold]{result['perplexity']:.4f}[/bold] over "
              f"{result['tokens']} tokens (window {window}, stride {stride}) in {result['seconds']:.1f} s")




@app.command()
def finetune(
    model: Annotated[str, typer.Argument(help="A zoo model with trained weights.")] = "smollm2-135m",
    format: Annotated[str, typer.Option("--format", help="An N:M sparse format whose masks stay fixed.")] = "flightllm-w4s",
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 200,
    seq: Annotated[int, typer.Option(help="Tokens per training window.")] = 256,
    batch: Annotated[int, typer.Option(help="Windows per step.")] = 2,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 5e-5,
    tokens: Annotated[int, typer.Option(help="Tokens scored before and after (never trained on).")] = 4096,
    as_json: JsonOption = False,
) -> None:
    """Sparse-aware fine-tune with the format's N:M masks fixed: perplexity before and after
    (cached; `tapeout report flightllm` shows it when it has been run)."""
    from tapeout.finetune import FinetuneSetting
    from tapeout.finetune import finetune as run

    setting = FinetuneSetting(model, format, steps, seq, batch, lr, tokens)
    result = run(setting, progress=lambda msg: err.print(f"finetune: {msg}", highlight=False))
    if as_json:
        emit_json(result)
        return
    out.print(escape(f"{model} [{format}]") + f": perplexity {result['perplexity_before']:.4g} → "
              f"[bold]{result['perplexity_after']:.4g}[/bold] after {steps} steps of {batch} × {seq} "
              f"tokens (masks fixed; {result['seconds']:.0f} s)")
