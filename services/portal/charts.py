"""Charts drawn on the server as SVG: no JavaScript, nothing to load, printable, and allowed by the
portal's Content-Security-Policy (presentation attributes and classes, no inline style). Every
chart carries its figures as text too (its title and each bar's), for screen readers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 8, 28, 16
BASELINE = HEIGHT - MARGIN_BOTTOM


@dataclass(frozen=True)
class Bar:
    label: str
    value: float


def bar_chart(bars: Sequence[Bar], *, title: str, shown: Callable[[float], str] = str) -> Markup:
    """Vertical bars scaled to the largest value (negative values drawn as zero-height bars); each
    bar's label under it and its value, as `shown` writes it, above it and in its tooltip."""
    if not bars:
        return Markup("")
    top = max(max(bar.value for bar in bars), 0) or 1
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    slot = (WIDTH - MARGIN_LEFT) / len(bars)
    width = max(slot * 0.7, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<line class="axis" x1="0" y1="{BASELINE}" x2="{WIDTH}" y2="{BASELINE}"/>',
    ]
    for index, bar in enumerate(bars):
        height = max(bar.value, 0) / top * plot_height
        x = MARGIN_LEFT + index * slot + (slot - width) / 2
        y = BASELINE - height
        value = escape(shown(bar.value))
        centre = x + width / 2
        parts += [
            f'<g class="bar"><title>{escape(bar.label)}: {value}</title>',
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"/>',
            f'<text class="value" x="{centre:.1f}" y="{y - 4:.1f}" text-anchor="middle">{value}</text>',
            f'<text class="label" x="{centre:.1f}" y="{HEIGHT - 8}" text-anchor="middle">',
            f"{escape(bar.label)}</text>",
            "</g>",
        ]
    parts.append("</svg>")
    return Markup("".join(parts))
