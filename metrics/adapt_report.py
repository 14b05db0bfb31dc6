"""The report of `tokwork adapt`: report.html with the before/after table and one figure (tokens per byte and
bits per byte against the original model, per held-out text), in the style of `tokwork bench`'s report."""

from __future__ import annotations

import html
import time
from pathlib import Path

from tokwork.metrics.plots import DPI, plot_figure, series_colors
from tokwork.metrics.report import STYLE, embedded_image, html_table
from tokwork.outputs import list_files_in_card, output_file

REPORT = "report.html"
FIGURE = "adapt.png"

ROW_COLUMNS = [("bytes", "bytes", "{:,}"), ("tokens_per_byte_before", "tokens/byte", "{:.4f}"),
               ("tokens_per_byte_after", "after", "{:.4f}"), ("fewer_tokens_percent", "fewer tokens %", "{:.1f}"),
               ("bits_per_byte_original", "bits/byte", "{:.4f}"), ("bits_per_byte_zero_shot", "zero-shot", "{:.4f}"),
               ("bits_per_byte_distilled", "distilled", "{:.4f}"),
               ("bits_per_byte_change_percent", "change %", "{:+.2f}")]


def figure(rows: list[dict], path: Path) -> Path:
    """One plot: per held-out text, tokens per byte after extension and bits per byte zero-shot and after
    distillation, each against the original model's (1 = unchanged, below 1 = better)."""
    import numpy as np

    series = {"tokens/byte after extension": [r["tokens_per_byte_after"] / r["tokens_per_byte_before"] for r in rows],
              "bits/byte zero-shot": [r["bits_per_byte_zero_shot"] / r["bits_per_byte_original"] for r in rows],
              "bits/byte distilled": [r["bits_per_byte_distilled"] / r["bits_per_byte_original"] for r in rows]}
    fig, axes = plot_figure(4.6 + 1.3 * len(rows), 4.2, margins=(0.8, 2.4, 0.4, 0.6))
    positions = np.arange(len(rows))
    width = 0.8 / len(series)
    for index, ((label, values), color) in enumerate(zip(series.items(), series_colors(len(series)), strict=True)):
        axes.bar(positions + (index - 1) * width, values, width=width, color=color, label=label)
    axes.axhline(1.0, color="0.3", linewidth=0.8)
    axes.set_xticks(positions, [r["text"] for r in rows])
    axes.set_ylabel("ratio to the original model (1 = unchanged)")
    axes.set_title("Tokens and bits per byte of held-out text", fontsize=10)
    axes.grid(axis="y", color="0.9")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def write_report(card: dict, folder: Path, *, plot: bool = True) -> Path:
    """Write report.html (the table, and with `plot` the figure, embedded and as adapt.png) into the
    adapted model's `folder`, each file atomically; return the report's path."""
    images = ""
    if plot:
        with output_file(folder / FIGURE) as staging:
            figure(card["evaluation"], staging)
        images = embedded_image(folder / FIGURE, "tokens per byte and bits per byte against the original model")
    config, steps = card["config"], card["steps"]
    timing = " · ".join(f"{step} {done['cpu_seconds'] / 60:.1f} CPU min" for step, done in steps.items())
    meta = (f"model {card['model']} · {config['add']:,} tokens asked, new ids {card['new_ids']['start']:,}.."
            f"{card['new_ids']['stop'] - 1:,} · method {config['method']} · distilled "
            f"{steps['distill']['card']['step']:,} steps · {timing} · {time.strftime('%Y-%m-%d %H:%M')}")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tokwork adapt</title><style>{STYLE}</style></head>
<body>
<h1>Adapting a model to {html.escape(card['language'])}</h1>
<p class="meta">{html.escape(meta)}</p>
{html_table(card["evaluation"], [("text", "held-out text")], ROW_COLUMNS)}
<div class="figures">{images}</div>
<p class="note">Tokens per byte of the original tokenizer and of the extended one; bits per byte of the original
model, of the transplanted model before training (zero-shot) and after distillation, on held-out text.</p>
</body></html>
"""
    with output_file(folder / REPORT) as staging:
        staging.write_text(page, encoding="utf-8")
    list_files_in_card(folder)  # the report and its figure are the output's files too
    return folder / REPORT
