"""The dashboard's charts as geometry: inline SVG drawn on the server, no script, nothing external.

Each function returns a plain dict (sizes, bars, points, ticks, labels, legend) that
``templates/console/_charts.html`` draws; nothing here knows Flask or the database.
"""

from __future__ import annotations

from typing import Any

TICKS = 5  # at most this many steps above zero


def _step(value: int) -> int:
    """A round tick step (1, 2, 5 × 10^n) such that at most ``TICKS`` steps reach ``value``."""
    unit = 1
    while True:
        for m in (1, 2, 5):
            if unit * m * TICKS >= value:
                return unit * m
        unit *= 10


def _nice_max(value: int) -> int:
    """The axis maximum: the first multiple of a round step ≥ ``value`` (so every tick is a round number)."""
    step = _step(max(value, 1))
    return step * max(1, -(-value // step))


def _ticks(top: int, height: float, base: float) -> list[dict[str, Any]]:
    step = _step(top)
    return [{"value": v, "y": round(base - height * v / top, 1)} for v in range(0, top + 1, step)]


def stacked_bars(days: list[str], series: dict[str, dict[str, int]], *, title: str) -> dict[str, Any]:
    """Bars per day stacked by series (at most 8 series; the rest are summed as 其他)."""
    names = list(series)
    if len(names) > 8:
        rest: dict[str, int] = dict.fromkeys(days, 0)
        for name in names[7:]:
            for d, v in series[name].items():
                rest[d] = rest.get(d, 0) + v
        series = {**{n: series[n] for n in names[:7]}, "其他": rest}
        names = list(series)
    width, height, left, bottom, top_pad = 760, 240, 48, 28, 10
    plot_h = height - bottom - top_pad
    per_day = {d: sum(series[n].get(d, 0) for n in names) for d in days}
    top = _nice_max(max(per_day.values(), default=0))
    slot = (width - left - 8) / max(len(days), 1)
    bars = []
    for i, d in enumerate(days):
        y: float = height - bottom
        for j, name in enumerate(names):
            v = series[name].get(d, 0)
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            bars.append({"x": round(left + i * slot + slot * 0.1, 1), "y": round(y, 1), "w": round(slot * 0.8, 1),
                         "h": round(h, 1), "cls": f"c{j}", "title": f"{d} {name}：{v}"})  # fmt: skip
    every = max(1, len(days) // 8)
    labels = [{"x": round(left + i * slot + slot / 2, 1), "text": d[5:]} for i, d in enumerate(days) if i % every == 0]
    return {
        "title": title, "width": width, "height": height, "left": left, "base": height - bottom,
        "ticks": _ticks(top, plot_h, height - bottom), "bars": bars, "labels": labels,
        "legend": [{"cls": f"c{j}", "name": n, "total": sum(series[n].values())} for j, n in enumerate(names)],
        "empty": not any(per_day.values()),
    }  # fmt: skip


def line_chart(days: list[str], series: dict[str, dict[str, int]], *, title: str) -> dict[str, Any]:
    """One polyline per series over the days."""
    width, height, left, bottom, top_pad = 760, 220, 48, 28, 10
    plot_h = height - bottom - top_pad
    top = _nice_max(max((v for s in series.values() for v in s.values()), default=0))
    step = (width - left - 16) / max(len(days) - 1, 1)
    lines = []
    for j, (name, values) in enumerate(series.items()):
        points = [
            (round(left + i * step, 1), round(height - bottom - plot_h * v / top, 1), d, v)
            for i, d in enumerate(days)
            for v in (values.get(d, 0),)
        ]
        lines.append({
            "cls": f"c{j}", "name": name, "total": sum(values.values()),
            "points": " ".join(f"{x},{y}" for x, y, _, _ in points),
            "dots": [{"x": x, "y": y, "title": f"{d} {name}：{v}"} for x, y, d, v in points],
        })  # fmt: skip
    every = max(1, len(days) // 8)
    labels = [{"x": round(left + i * step, 1), "text": d[5:]} for i, d in enumerate(days) if i % every == 0]
    return {
        "title": title, "width": width, "height": height, "left": left, "base": height - bottom,
        "ticks": _ticks(top, plot_h, height - bottom), "lines": lines, "labels": labels,
        "empty": not any(v for s in series.values() for v in s.values()),
    }  # fmt: skip


def hbars(items: list[tuple[str, int]], *, title: str) -> dict[str, Any]:
    """Horizontal bars, one per (label, value), largest first as given."""
    # Sized for the narrow column the dashboard gives these charts: labels stay readable when scaled down.
    row, label_w, width = 30, 200, 560
    top = max((v for _, v in items), default=0) or 1
    bars = [
        {"y": i * row, "w": round((width - label_w - 60) * v / top, 1), "label": name, "value": v, "cls": f"c{i % 8}"}
        for i, (name, v) in enumerate(items)
    ]
    return {"title": title, "width": width, "height": max(len(items), 1) * row, "label_w": label_w, "bars": bars,
            "empty": not items}  # fmt: skip
