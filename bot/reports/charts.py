"""Report charts as PNG bytes, drawn by Matplotlib (Agg, no display) in the embedded CJK font.

Sized for an A4 page at 200 dpi: labels stay legible printed and on a projector.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from bot.reports.fonts import cjk_font

RED, BLUE = "#b71c1c", "#1d4ed8"


@functools.cache
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    path = str(cjk_font())
    font_manager.fontManager.addfont(path)
    name = font_manager.FontProperties(fname=path).get_name()
    plt.rcParams.update({"font.family": name, "font.size": 10, "axes.unicode_minus": False, "svg.fonttype": "none"})
    return plt


def _png(fig: Any) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=200, bbox_inches="tight")
    _pyplot().close(fig)
    return out.getvalue()


def daily(days: list[str], messages: dict[str, int], cases: dict[str, int]) -> bytes:
    """Messages and cases per day: two lines over the period."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    labels = [d[5:] for d in days]
    x = range(len(days))  # positions, not the labels: dates as strings would be parsed as categories
    ax.plot(x, [messages.get(d, 0) for d in days], color=BLUE, marker="o", markersize=3, label="群众留言")
    ax.plot(x, [cases.get(d, 0) for d in days], color=RED, marker="o", markersize=3, label="受理诉求")
    step = max(1, len(days) // 10)
    ax.set_xticks(range(0, len(days), step), labels[::step])
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", color="#e5e7eb")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, ncols=2, loc="lower left", bbox_to_anchor=(0, 1.0))  # above the plot, never on a line
    return _png(fig)


def hbars(items: list[tuple[str, int]]) -> bytes:
    """Horizontal bars, largest at the top, each with its value."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.34 * max(len(items), 2) + 0.5))
    names = [n for n, _ in items][::-1]
    values = [v for _, v in items][::-1]
    bars = ax.barh(names, values, color=RED, height=0.6)
    ax.bar_label(bars, padding=3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlim(right=max(values, default=1) * 1.15 or 1)
    return _png(fig)
