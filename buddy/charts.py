"""Bar charts drawn on the server as SVG: no script, no third-party site.

Colours are presentation attributes (not style attributes) so the page's CSP, which forbids
inline styles, still applies. Every chart has a text title; pages put the numbers in a table
beside it for screen readers.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# NHS.UK palette: blue, dark pink, green, warm yellow.
COLOURS = ("#005eb8", "#ae2573", "#007f3b", "#ffb81c")


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]], *,
              percent: bool = False, width: int = 640, height: int = 240,
              label_every: int = 1) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series."""
    left, bottom, top = 40, 40, 16
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = 1.0 if percent else max([1.0, *[v for _, values in series for v in values]])
    group_w = plot_w / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg class="app-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-{_slug(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-{_slug(title)}">{escape(title)}</title>',
    ]
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        tick = f"{fraction:.0%}" if percent else f"{peak * fraction:.0f}"
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#d8dde0" stroke-width="1"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#4c6272">{tick}</text>')
    for i, label in enumerate(labels):
        x0 = left + i * group_w + group_w * 0.1
        for j, (name, values) in enumerate(series):
            value = values[i] or 0
            h = plot_h * min(1.0, value / peak)
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w - 1:.1f}" height="{h:.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                f'<title>{escape(name)}, {escape(label)}: '
                f'{f"{value:.0%}" if percent else f"{value:g}"}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{height - bottom + 16}" '
                         f'text-anchor="middle" font-size="11" fill="#4c6272">'
                         f'{escape(label)}</text>')
    for j, (name, _) in enumerate(series):
        x = left + j * 170
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" '
                     f'fill="{COLOURS[j % len(COLOURS)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 5}" font-size="11" fill="#212b32">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
