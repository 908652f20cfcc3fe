"""`tapeout models`: the model zoo."""

from __future__ import annotations

from rich.table import Table

from tapeout.app import JsonOption, app, emit_json, human, out


@app.command()
def models(as_json: JsonOption = False) -> None:
    """List the model zoo: shapes, parameter counts, trained weights (image models: no vocabulary)."""
    from models.zoo import ZOO, parameter_count

    rows = []
    for spec in ZOO.values():
        s = spec.shape
        rows.append({"name": spec.name, "family": spec.family, "parameters": parameter_count(spec),
                     "layers": s.layers, "hidden": s.hidden, "heads": s.heads,
                     "kv_heads": s.kv_heads, "ffn": s.ffn, "vocab": s.vocab,
                     "max_positions": s.max_positions, "causal": spec.causal,
                     "image": _image(spec.image), "trained_weights": spec.trained,
                     "source": spec.source})
    if as_json:
        emit_json({"models": rows})
        return
    table = Table(title="tapeout model zoo")
    table.add_column("model", no_wrap=True)
    for col in ("params", "layers", "hidden", "heads / kv", "ffn", "vocab", "weights"):
        table.add_column(col, justify="left" if col == "weights" else "right", no_wrap=True)
    for r in rows:
        table.add_row(r["name"], human(r["parameters"]), str(r["layers"]), str(r["hidden"]),
                      f"{r['heads']} / {r['kv_heads']}", str(r["ffn"]), str(r["vocab"] or "—"),
                      "trained" if r["trained_weights"] else "shapes only")
    out.print(table)


def _image(image) -> dict | None:
    """An image model's input (channels, size and patch in pixels, tokens per image); ``None``
    for text models."""
    if image is None:
        return None
    return {"channels": image.channels, "size": image.size, "patch": image.patch,
            "tokens": image.tokens}
