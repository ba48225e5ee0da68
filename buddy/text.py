"""Text that people type: names, notes, numbers and ids. One rule for each, used everywhere.

Names are shown to other people, put into emails and texts, and sorted in lists, so a name
must be visible, on one line and displayed in the order it was typed: letters of any script,
marks, digits, punctuation, symbols and emoji are welcome (an emoji is visible and cannot
reorder text; it only makes a text message UCS-2, as any non-Latin name does), and a name
needs at least one letter. Characters that are invisible or that change how the text around
them is displayed are not welcome: line and paragraph separators, bidi marks, embeddings,
overrides and isolates, zero-width spaces, BOMs, soft hyphens, tag characters (so the
England and Scotland flag sequences too), private-use and unassigned code points. ZWJ and
ZWNJ stay between two visible characters: Persian, Arabic and Indic names need them, and
they join emoji sequences.

Numbers and ids are ASCII digits of a bounded size: `int()` also reads Arabic-Indic and
fullwidth digits, refuses superscripts with a ValueError and, past 4,300 digits, refuses
everything.
"""

from __future__ import annotations

import re
import unicodedata

from buddy.services import ServiceError

# Every id column is an INTEGER: 32 bits on PostgreSQL. A larger id names no record, and
# passing one to the database is an error on both PostgreSQL and SQLite.
DB_INT_MAX = 2**31 - 1
MAX_NAME = 120

# C0 controls except tab, line feed and carriage return; DEL; C1 controls. No answer on any
# form needs them, PostgreSQL refuses NUL in text, and the rest garble pages and logs.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DIGITS = re.compile(r"[0-9]+")
ZWNJ, ZWJ = "\u200c", "\u200d"
# Line and paragraph separators end a line like CR/LF; embeddings, overrides and isolates
# reorder the text after them ("\u202eeeL nnA" displays as "Ann Lee").
_LINE_BREAKS = {"\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"}
_BIDI = set("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Letters and symbols that draw nothing: a name of only these looks empty.
_BLANK = set("\u115f\u1160\u3164\uffa0\u2800")


def parse_int(value: object, *, max_digits: int = 9) -> int | None:
    """`value` as a non-negative int when it is 1 to `max_digits` ASCII digits (spaces around
    allowed); None for anything else: other scripts' digits, signs, huge numbers, files."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if len(value) > max_digits or not _DIGITS.fullmatch(value):
        return None
    return int(value)


def parse_id(value: object) -> int | None:
    """`value` as a record id (1 to DB_INT_MAX, ASCII digits); None when it cannot be one."""
    number = parse_int(value, max_digits=len(str(DB_INT_MAX)))
    return number if number is not None and 1 <= number <= DB_INT_MAX else None


def without_controls(value: str) -> str:
    """`value` with each control character replaced by a space (for text we must not lose)."""
    return CONTROL.sub(" ", value)


def has_control(value: str) -> bool:
    """True when `value` holds a control character no form answer needs (NUL, ESC, DEL...)."""
    return CONTROL.search(value) is not None


def _joiner_kept(text: str, i: int) -> bool:
    # ZWJ and ZWNJ shape Arabic, Persian and Indic names (and join emoji sequences): keep
    # them between two visible characters, never at an edge or beside a space.
    before, after = text[i - 1: i], text[i + 1: i + 2]
    return bool(before and after) and all(
        unicodedata.category(c)[0] in "LMNS" for c in (before, after))


def clean_name(value: str | None, *, label: str = "your full name",
               field: str = "full_name") -> str:
    """The name as it will be shown: NFC, spaces collapsed, at most MAX_NAME characters.

    :raises ServiceError: on `field` for an empty or invisible name, a line break, or a
        character that is invisible or reorders the text (with what to fix).
    """
    if not isinstance(value, str):
        value = ""
    value = unicodedata.normalize("NFC", value)
    if any(c in _LINE_BREAKS for c in value):
        raise ServiceError({field: "Enter the name on one line, without line breaks"})
    if any(c in _BIDI for c in value):
        raise ServiceError({field: "Remove the text-direction marks from the name: type it as"
                                   " it is written, and it will be shown the same way"})
    for i, c in enumerate(value):
        category = unicodedata.category(c)
        if c in (ZWJ, ZWNJ) and _joiner_kept(value, i):
            continue
        if (category in ("Cc", "Cf", "Cs", "Co", "Cn") and c != "\t") or c in _BLANK:
            raise ServiceError({field: f"Remove the invisible character U+{ord(c):04X} from the"
                                       " name: use letters, spaces, hyphens and apostrophes"})
    value = " ".join(
        "".join(" " if unicodedata.category(c) == "Zs" or c == "\t" else c for c in value)
        .split())
    if not any(unicodedata.category(c)[0] == "L" for c in value):
        raise ServiceError({field: f"Enter {label} in letters"
                            if value else f"Enter {label}"})
    if len(value) > MAX_NAME:
        raise ServiceError({field: f"Name must be {MAX_NAME} characters or fewer"})
    return value


def clean_note(value: str | None, *, field: str = "note", limit: int = 2000) -> str:
    """A free-text note: NFC, line breaks as "\\n", trimmed; lines may break, text may not
    reverse or hide.

    :raises ServiceError: on `field` for text-direction controls, other invisible format
        characters, or more than `limit` characters.
    """
    if not isinstance(value, str):
        value = ""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\u2028", "\n").replace("\u2029", "\n").strip()
    if any(c in _BIDI for c in value):
        raise ServiceError({field: "Remove the text-direction marks from the note"})
    for i, c in enumerate(value):
        if c in "\n\t" or (c in (ZWJ, ZWNJ) and _joiner_kept(value, i)):
            continue
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co"):
            raise ServiceError({field: f"Remove the invisible character U+{ord(c):04X} from"
                                       " the note"})
    if len(value) > limit:
        raise ServiceError({field: f"Keep the note under {limit:,} characters"})
    return value
