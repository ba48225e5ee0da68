"""Markup for long choice lists (<option>s and checkbox items), written in Python.

A profile form lists about 1,200 choices: countries twice, time zones, schemes and languages.
In Jinja loops they cost about 25 ms of CPU a page (measured under the load test); the same
markup written here costs about 1 ms. The macros in templates/macros.html keep the rest of
each component and call these for the list itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from markupsafe import Markup


def _option(value, label, selected: bool) -> str:
    chosen = " selected" if selected else ""
    return f'<option value="{escape(str(value))}"{chosen}>{escape(str(label))}</option>'


def options(field, groups: Iterable[tuple[str, Iterable[tuple[str, str]]]] | None = None):
    """The <option>s of a select field; with `groups`, its empty choice then <optgroup>s."""
    data = field.data
    if groups is None:
        return Markup("".join(_option(c.value, c.label, data == c.value) for c in field.choices))
    parts = [_option(c.value, c.label, not data) for c in field.choices if not c.value]
    for group, items in groups:
        parts.append(f'<optgroup label="{escape(group)}">')
        parts.extend(_option(value, label, data == value) for value, label in items)
        parts.append("</optgroup>")
    return Markup("".join(parts))


def grouped_options(*, empty, selected: str, groups) -> Markup:
    """An empty choice, then <optgroup>s; a value listed twice is selected once, the first."""
    parts = [_option(empty.value, empty.label, not selected)]
    marked = not selected
    for group, items in groups:
        parts.append(f'<optgroup label="{escape(group)}">')
        for value, label in items:
            here = not marked and value == selected
            marked = marked or here
            parts.append(_option(value, label, here))
        parts.append("</optgroup>")
    return Markup("".join(parts))


def checkbox_items(field):
    """The NHS.UK checkbox items of a multiple-choice field, the chosen ones checked."""
    chosen = set(field.data or ())
    name, field_id = escape(field.name), escape(field.id)
    return Markup("".join(
        f'<div class="nhsuk-checkboxes__item">'
        f'<input class="nhsuk-checkboxes__input" id="{field_id}-{i}" name="{name}" '
        f'type="checkbox" value="{escape(str(c.value))}"'
        f'{" checked" if c.value in chosen else ""}>'
        f'<label class="nhsuk-label nhsuk-checkboxes__label" for="{field_id}-{i}">'
        f"{escape(str(c.label))}</label></div>"
        for i, c in enumerate(field.choices)
    ))
