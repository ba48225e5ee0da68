"""Bar charts drawn on the server as SVG: no script, no third-party site.

Colours are presentation attributes (not style attributes) so the page's CSP, which forbids
inline styles, still applies. Every chart comes with its numbers in a table ("Show the
numbers", an NHS.UK details component) captioned with the chart's title; the drawing itself
is hidden from screen readers, which would otherwise read a pile of shapes.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# NHS.UK palette: blue, dark pink, green, warm yellow.
COLOURS = ("#005eb8", "#ae2573", "#007f3b", "#ffb81c")


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _number(value: float, percent: bool) -> str:
    return f"{value:.0%}" if percent else f"{value:g}"


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]], *,
              percent: bool = False, width: int = 640, height: int = 240,
              label_every: int = 1, label_header: str = "Group") -> Markup:
    """Grouped vertical bars (one group per label, one bar per series) and their table."""
    left, bottom, top = 40, 40, 16
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = 1.0 if percent else max([1.0, *[v for _, values in series for v in values]])
    group_w = plot_w / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        # The table below carries the numbers; the title still shows on hover.
        f'<svg class="app-chart" viewBox="0 0 {width} {height}" aria-hidden="true" '
        'focusable="false" xmlns="http://www.w3.org/2000/svg">',
        f'<title>{escape(title)}</title>',
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
                f'<title>{escape(name)}, {escape(label)}: {_number(value, percent)}</title>'
                '</rect>')
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
    parts.append(_table(title, labels, series, percent=percent, label_header=label_header))
    return Markup("".join(parts))


def _table(title: str, labels: list[str], series: list[tuple[str, list[float]]], *,
           percent: bool, label_header: str) -> str:
    """The chart's numbers as an NHS.UK table inside a "Show the numbers" details."""
    numeric = "nhsuk-table__header nhsuk-table__header--numeric"
    head = "".join(f'<th scope="col" class="{numeric}">{escape(name)}</th>'
                   for name, _ in series)
    body = "".join(
        '<tr class="nhsuk-table__row">'
        f'<th scope="row" class="nhsuk-table__header">{escape(label)}</th>'
        + "".join('<td class="nhsuk-table__cell nhsuk-table__cell--numeric">'
                  f"{_number(values[i] or 0, percent)}</td>" for _, values in series)
        + "</tr>"
        for i, label in enumerate(labels))
    return (
        '<details class="nhsuk-details app-chart-numbers">'
        '<summary class="nhsuk-details__summary"><span class="nhsuk-details__summary-text">'
        f'Show the numbers<span class="nhsuk-u-visually-hidden">: {escape(title)}</span>'
        '</span></summary><div class="nhsuk-details__text">'
        '<div class="app-table-wrap" tabindex="0" role="region" '
        f'aria-label="{escape(title)} (table scrolls sideways on small screens)">'
        f'<table class="nhsuk-table"><caption class="nhsuk-table__caption">{escape(title)}'
        '</caption><thead class="nhsuk-table__head"><tr class="nhsuk-table__row">'
        f'<th scope="col" class="nhsuk-table__header">{escape(label_header)}</th>{head}'
        f'</tr></thead><tbody class="nhsuk-table__body">{body}</tbody></table></div></div>'
        "</details>")
