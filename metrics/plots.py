"""The benchmark's figures (matplotlib, drawn off-screen): premiums by language and by script, compression
against vocabulary size, Rényi efficiency. Each function takes the benchmark summary and writes one PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tokwork.metrics.scripts import LATIN, is_non_latin

DPI = 110
MARKERS = "os^Dv<>PX*h"


def plot_figure(width: float, height: float, *, margins: tuple[float, float, float, float] = (0.8, 0.3, 0.5, 0.7)):
    """A figure with one axes; `margins` (left, right, top, bottom) in inches. Fixed margins instead of a
    layout engine: the engine's extra drawing passes cost more than all the plotting."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    figure = Figure(figsize=(width, height))
    left, right, top, bottom = margins
    figure.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                           bottom=bottom / height)
    return figure, figure.add_subplot()


def _nothing_to_show(path: Path, message: str) -> Path:
    figure, axes = plot_figure(5, 1.2, margins=(0.1, 0.1, 0.1, 0.1))
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=10)
    figure.savefig(path, dpi=DPI)
    return path


def series_colors(count: int) -> list:
    """`count` distinct colours for the series of one plot (tab10, repeated past ten)."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return [palette(i % 10) for i in range(count)]


def _log_axis(axis, set_scale) -> None:
    """A log axis labelled with plain numbers (0.5, 1, 2, 5, 10, ...) rather than powers of ten."""
    from matplotlib.ticker import FixedLocator, NullFormatter, StrMethodFormatter

    set_scale("log")
    axis.set_major_locator(FixedLocator([0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100]))
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def _plain_labels(axis, *, thousands: bool = False) -> None:
    """Label a log axis's ticks (major and minor) with plain numbers, in thousands ("50k") if asked; of the
    minor ticks only those at 2 and 5 times a power of ten, so that the labels do not crowd."""
    import math

    from matplotlib.ticker import FuncFormatter

    def label(value, _position):
        if value <= 0 or round(value / 10 ** math.floor(math.log10(value)), 6) not in (1, 2, 3, 5):
            return ""
        return f"{value / 1000:g}k" if thousands and value >= 1000 else f"{value:g}"

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))


def premium_plot(summary: dict, path: Path, *, pivot: str) -> Path:
    """Dot plot: one row per language (grouped by script, ordered by median premium), one marker per
    tokenizer, premium on a log axis; the pivot's line at 1."""
    rows = [r for r in summary["rows"] if r["language"] != pivot]
    names = [t["tokenizer"] for t in summary["tokenizers"]]
    codes = list(dict.fromkeys(r["language"] for r in rows))
    value = {(r["tokenizer"], r["language"]): r["premium"] for r in rows}
    script = {r["language"]: r["script"] for r in rows}
    if not codes:
        return _nothing_to_show(path, f"no language besides the pivot ({pivot}): no premiums")
    median = {c: float(np.median([value[(n, c)] for n in names])) for c in codes}
    codes.sort(key=lambda c: (script[c] != "Latn", script[c], median[c]))
    figure, axes = plot_figure(9, 1.3 + 0.19 * len(codes), margins=(1.5, 1.4, 0.4, 0.6))
    positions = np.arange(len(codes))
    for index, (name, color) in enumerate(zip(names, series_colors(len(names)), strict=True)):
        axes.scatter([value[(name, c)] for c in codes], positions, s=22, color=color,
                     marker=MARKERS[index % len(MARKERS)], label=name, alpha=0.85, zorder=3)
    axes.set_yticks(positions, [f"{c} ({script[c]})" for c in codes], fontsize=7)
    axes.set_ylim(len(codes) - 0.5, -0.5)
    _log_axis(axes.xaxis, axes.set_xscale)
    axes.axvline(1.0, color="0.3", linewidth=0.8)
    axes.grid(axis="x", which="major", color="0.9")
    axes.set_xlabel(f"premium: tokens / tokens of {pivot} for the same text (log scale)")
    axes.set_title("Cross-lingual token premiums by language")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.savefig(path, dpi=DPI)
    return path


def script_premium_plot(summary: dict, path: Path) -> Path:
    """Heat map of the mean premium per script (rows) and tokenizer (columns), values written in."""
    from matplotlib.colors import LogNorm

    names = [t["tokenizer"] for t in summary["tokenizers"]]
    entries = {(s["tokenizer"], s["script"]): s["premium_mean"] for s in summary["scripts"]}
    scripts = sorted({s for _, s in entries if any(entries.get((n, s)) for n in names)})
    if not scripts:
        return _nothing_to_show(path, "no language besides the pivot: no premiums by script")
    grid = np.array([[entries.get((n, s)) or np.nan for n in names] for s in scripts], dtype=float)
    figure, axes = plot_figure(2.4 + 0.9 * len(names), 1.6 + 0.3 * len(scripts), margins=(0.7, 1.3, 0.4, 1.0))
    image = axes.imshow(grid, cmap="magma_r", norm=LogNorm(vmin=max(np.nanmin(grid), 0.3), vmax=np.nanmax(grid)),
                        aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        if not np.isnan(v):
            axes.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                      color="white" if v > np.sqrt(np.nanmax(grid)) else "black")
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(len(scripts)), scripts, fontsize=8)
    axes.set_title("Mean premium by script")
    bar = figure.colorbar(image, cax=figure.add_axes((1 - 1.1 / figure.get_figwidth(), 0.2,
                                                      0.2 / figure.get_figwidth(), 0.6)))
    _plain_labels(bar.ax.yaxis)  # premiums as 2, 3, 5, not 2×10⁰
    figure.savefig(path, dpi=DPI)
    return path


def compression_plot(summary: dict, path: Path) -> Path:
    """Bytes per token against vocabulary size, pooled over Latin-script, other-script and all languages
    (a language of unknown script counts only in the last)."""
    figure, axes = plot_figure(7.5, 4.8, margins=(0.8, 0.3, 0.4, 0.6))
    tokenizers = summary["tokenizers"]
    totals: dict[tuple[str, str], list[int]] = {}
    for row in summary["rows"]:
        if not is_non_latin(row["script"]) and row["script"] != LATIN:
            continue
        group = "Latin script" if row["script"] == LATIN else "other scripts"
        entry = totals.setdefault((row["tokenizer"], group), [0, 0])
        entry[0] += row["bytes"]
        entry[1] += row["tokens"]
    series = {"all languages": [t["bytes_per_token"] for t in tokenizers]}
    for group in ("Latin script", "other scripts"):
        pairs = [totals.get((t["tokenizer"], group)) for t in tokenizers]
        series[group] = [p[0] / p[1] if p else np.nan for p in pairs]
    sizes = [t["vocab_size"] for t in tokenizers]
    for (label, values), marker, color in zip(series.items(), "o^s", series_colors(3), strict=True):
        axes.scatter(sizes, values, marker=marker, color=color, s=40, label=label, zorder=3)
    placed: dict[tuple[int, float], int] = {}  # labels at (about) one point go one under the other
    for t, y in zip(tokenizers, series["all languages"], strict=True):
        spot = (t["vocab_size"], round(float(y), 1))
        below = placed[spot] = placed.get(spot, -1) + 1
        axes.annotate(t["tokenizer"], (t["vocab_size"], y), textcoords="offset points", xytext=(5, 4 - 10 * below),
                      fontsize=8)
    axes.set_xscale("log")
    _plain_labels(axes.xaxis, thousands=True)  # 50k, 100k, 200k, not 5×10⁴
    axes.set_xlabel("vocabulary size (log scale)")
    axes.set_ylabel("UTF-8 bytes per token (pooled)")
    axes.set_title("Compression against vocabulary size")
    axes.grid(color="0.9")
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=DPI)
    return path


def renyi_plot(summary: dict, path: Path, *, alpha: float) -> Path:
    """Rényi efficiency per language (dots) and pooled over all languages (bar) for each tokenizer."""
    names = [t["tokenizer"] for t in summary["tokenizers"]]
    figure, axes = plot_figure(2.2 + 0.9 * len(names), 4.6, margins=(0.8, 0.3, 0.4, 1.0))
    jitter = np.random.default_rng(0)
    for index, (name, color) in enumerate(zip(names, series_colors(len(names)), strict=True)):
        values = [r["renyi_efficiency"] for r in summary["rows"]
                  if r["tokenizer"] == name and r.get("renyi_efficiency") is not None]
        axes.scatter(index + jitter.uniform(-0.25, 0.25, len(values)), values, s=10, color=color, alpha=0.7)
        pooled = summary["tokenizers"][index]["pooled_renyi_efficiency"]
        if pooled is not None:
            axes.bar(index, pooled, width=0.7, color=color, alpha=0.25, edgecolor=color)
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(f"Rényi efficiency (alpha = {alpha:g})")
    axes.set_title("Rényi efficiency: per language (dots), pooled (bars)")
    axes.grid(axis="y", color="0.9")
    figure.savefig(path, dpi=DPI)
    return path


def draw_all(summary: dict, folder: Path, *, pivot: str, alpha: float) -> list[Path]:
    """Every figure of the report, written into `folder`; returns their paths. Text is drawn as given:
    a tokenizer named with dollar signs is not read as mathematics (which failed or changed the name)."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):
        return [
            premium_plot(summary, folder / "premiums.png", pivot=pivot),
            script_premium_plot(summary, folder / "premiums_by_script.png"),
            compression_plot(summary, folder / "compression_vs_vocab.png"),
            renyi_plot(summary, folder / "renyi_efficiency.png", alpha=alpha),
        ]
