"""Words about people in messages: how to greet them and how to describe family members.

Every message that greets a person takes the name from `greeting_name`, and every message
that says who is in a family describes them with `doctor`: one rule, so no sender writes
"Hello Dr," or calls a hospital doctor a GP trainee.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

# Titles people put before their name. Skipped when greeting: "Hello Dr," greets nobody.
TITLES = frozenset({"dr", "doctor", "mr", "mrs", "ms", "miss", "mx", "prof", "professor",
                    "sir", "dame"})
# The greeting when the name gives nothing to greet by: "Hello there," still reads well
# (and a WhatsApp template variable may not be empty).
NO_NAME = "there"
_TITLE = re.compile(rf"^(?:{'|'.join(sorted(TITLES, key=len, reverse=True))})\.?$",
                    re.IGNORECASE)
# "Dr.Priya" (a title and a dot, no space) is two words.
_GLUED_TITLE = re.compile(rf"^((?:{'|'.join(TITLES)})\.)(?=\w)", re.IGNORECASE)
_INITIAL = re.compile(r"^\w\.?$")
# Punctuation typed around a name ("Priya," or "(Priya)") is not part of it.
_EDGES = ",;:()[]\"'"


def greeting_name(full_name: str | None) -> str:
    """The name to greet `full_name` by: the first word after any titles, as typed.

    "Dr Priya Raman" -> "Priya"; "Dr Adebayo" -> "Adebayo"; "Dr J. Smith" -> "J. Smith" (an
    initial alone greets nobody); an empty name, or titles only -> "there".
    """
    words: list[str] = []
    for word in (full_name or "").split():
        while glued := _GLUED_TITLE.match(word):
            words.append(glued[1])
            word = word[glued.end():]
        words.append(word)
    words = [w for w in (w.strip(_EDGES) for w in words) if w]
    while words and _TITLE.match(words[0]):
        words.pop(0)
    if not words:
        return NO_NAME
    if _INITIAL.match(words[0]) and len(words) > 1:
        return " ".join(words)
    return words[0]


def doctor(person) -> str:
    """What a volunteer is, in words a newcomer knows: "a GP trainee (ST2)", "a GP",
    "a hospital doctor", "a GP trainee (ST2), now working in a hospital"."""
    hospital = person.setting == "secondary"
    if person.stage == "qualified":
        return "a hospital doctor" if hospital else "a GP"
    trainee = f"a GP trainee ({person.stage})" if person.stage else "a GP trainee"
    return f"{trainee}, now working in a hospital" if hospital else trainee


def _short(person) -> str:
    # `doctor` in a text message's brackets: "GP trainee, ST2, in hospital".
    hospital = person.setting == "secondary"
    if person.stage == "qualified":
        return "hospital doctor" if hospital else "GP"
    trainee = f"GP trainee, {person.stage}" if person.stage else "GP trainee"
    return f"{trainee}, in hospital" if hospital else trainee


def long_date(day: date | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else "a date not known yet"


def starts(day: date | None) -> str:
    """ "on 4 August 2027", or "soon" when the date is not known."""
    return f"on {long_date(day)}" if day else "soon (the date is not known yet)"


def _others(members: Iterable[tuple[object, str]], recipient) -> list[tuple[object, str]]:
    return [(p, place) for p, place in members if p.id != recipient.id]


def family_others(members: Iterable[tuple[object, str]], recipient) -> str:
    """The other members of a family on one line, short enough for a text message:
    "Ann Lee (GP, main contact), Cy Diaz (hospital doctor) and new doctors Di Eze, Ed Fox"."""
    others = _others(members, recipient)
    volunteers = [f"{p.full_name} ({_short(p)}{', main contact' if place == 'anchor' else ''})"
                  for p, place in others if place != "newcomer"]
    newcomers = [p.full_name for p, place in others if place == "newcomer"]
    if newcomers:
        like = "also new, like you" if recipient.role == "newcomer" else "new doctors"
        volunteers.append(f"{like}: {', '.join(newcomers)}" if volunteers
                          else ", ".join(newcomers) + f" ({like})")
    return "; ".join(volunteers) or "nobody else yet"


def family_lines(members: Iterable[tuple[object, str]], recipient) -> str:
    """The other members of a family, one a line, for an email."""
    lines = []
    for person, place in _others(members, recipient):
        if place == "newcomer":
            what = ("new to GP training, like you" if recipient.role == "newcomer"
                    else f"new to GP training, starts {starts(person.arrival_date)}")
        else:
            what = doctor(person) + (", and the family's main contact" if place == "anchor"
                                     else "")
        lines.append(f"- {person.full_name}: {what}")
    return "\n".join(lines) or "- nobody else yet"
