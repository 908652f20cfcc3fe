"""``report.md``: the human-readable view of a report document."""

from __future__ import annotations

from tapeout.app import human


def _f(x, unit: str = "") -> str:
    if x is None:
        return "—"
    return f"{human(x)}{unit}" if abs(x) >= 1000 else f"{x:.4g}{unit}"


def render_markdown(doc: dict, images: list[str]) -> str:
    m, t, tot = doc["model"], doc["target"], doc["totals"]
    lines = [f"# {m['name']} on {t['name']}", "",
             f"Simulated by tapeout: prefill {m['prefill']} tokens, {m['decode']} decode steps, "
             f"batch {m['batch']}. Target: {t['description']} (compute model `{t['compute_model']}`, "
             f"linear layers at `{t['linear_precision']}`"
             + (f" from format `{t['format']}`" if t["format"] else "")
             + f", attention at `{t['attention_precision']}`).", "",
             "| total | value |", "|---|---|",
             f"| latency | {tot['seconds']:.6g} s ({tot['cycles']:,} cycles) |",
             f"| prefill | {tot['prefill_seconds']:.6g} s |",
             f"| decode per token | {tot['decode_seconds_per_token']:.6g} s |",
             f"| tokens per second | {_f(tot['tokens_per_second'])} |",
             f"| energy | {tot['energy_joules']:.6g} J |",
             f"| energy per token | {tot['energy_per_token_joules']:.6g} J |",
             f"| average power | {tot['average_power_watts']:.6g} W |",
             f"| compute utilisation | {doc['utilization']['compute']:.2%} "
             f"(prefill {doc['utilization']['prefill']['compute']:.2%}, decode {doc['utilization']['decode']['compute']:.2%}) |",
             f"| off-chip bandwidth utilisation | {doc['utilization']['bandwidth']:.2%} |", ""]
    lines += ["## By operation kind", "", "| kind | ops | seconds | stall cycles | energy J | off-chip bytes |",
              "|---|---:|---:|---:|---:|---:|"]
    for kind, b in doc["breakdown"]["kind"].items():
        lines.append(f"| {kind} | {b['ops']:,} | {b['seconds']:.4g} | {b['stall_cycles']:,} | "
                     f"{b['energy_joules']:.4g} | {human(b['bytes_offchip'])}B |")
    lines += ["", "## By memory level and component", "", "| level | energy J | counts |", "|---|---:|---|"]
    for level, b in doc["breakdown"]["memory"].items():
        counts = ", ".join(f"{k} {human(v)}" for k, v in b.items() if k != "energy_joules")
        lines.append(f"| {level} | {b['energy_joules']:.4g} | {counts} |")
    lines += ["", "## By layer", "", "| layer | seconds | energy J | compute util. |", "|---|---:|---:|---:|"]
    for layer, b in doc["breakdown"]["layer"].items():
        lines.append(f"| {layer} | {b['seconds']:.4g} | {b['energy_joules']:.4g} | {b['compute_utilization']:.2%} |")
    lines += ["", "## Energy table", "", f"`{doc['energy_table']['name']}` — entries used:", "",
              "| action | pJ | per | node | source |", "|---|---:|---|---|---|"]
    for action, e in doc["energy_table"]["entries"].items():
        lines.append(f"| {action} | {e['pj']:g} | {e['per']} | {e['node']} | {e['source']} |")
    lines += ["", f"Static power {t['static_watts']:g} W × time is included in every op's energy.", ""]
    if t["sources"] or t["notes"]:
        lines += ["## Target sources and assumptions", ""] + [f"- {s}" for s in t["sources"] + t["notes"]] + [""]
    lines += ["## Figures", ""] + [f"![{name}]({name})" for name in images] + [""]
    lines += ["Per-op results (cycles, compute and stall cycles, off-chip bytes, energy) are in "
              "`report.json` (schema: docs/report-format.md).", ""]
    return "\n".join(lines)
