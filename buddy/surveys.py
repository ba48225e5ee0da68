"""The surveys of config/surveys.toml: their questions, for whom and when (README.md, "Surveys").

Loaded once and checked as it loads: a mistake in the file fails with a message naming the
survey and question (tests/test_surveys.py loads the shipped file).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from buddy.settings import CONFIG_DIR, read_toml

KINDS = ("choice", "scale", "text")
MOMENTS = ("signup", "eight_weeks", "six_months")
AUDIENCES = ("newcomer", "volunteer")
SCALE = ("1", "2", "3", "4", "5")
FAMILY_ANSWER = "family_answer"


class BadSurveys(ValueError):
    """config/surveys.toml breaks a rule; the message says where."""


@dataclass(frozen=True)
class Option:
    key: str
    words: str


@dataclass(frozen=True)
class Question:
    key: str
    kind: str  # choice | scale | text
    text: str
    options: tuple[Option, ...] = ()
    low: str = ""
    high: str = ""
    max_length: int = 0
    audience: str | None = None  # newcomer | volunteer; None asks everyone
    records: str | None = None  # "family_answer": the family's six-month question

    @property
    def required(self) -> bool:
        """Choices and scales need an answer; free text may be left blank."""
        return self.kind != "text"

    def choices(self) -> tuple[Option, ...]:
        """The answers offered: the options, or the scale's five points with words at its ends."""
        if self.kind != "scale":
            return self.options
        ends = {"1": self.low, "5": self.high}
        return tuple(Option(p, f"{p} - {ends[p]}" if p in ends else p) for p in SCALE)

    def words_for(self, answer: str) -> str:
        """The words shown for `answer` (an option's or scale point's key, or the text)."""
        if self.kind == "text":
            return answer
        return next((o.words for o in self.choices() if o.key == answer), answer)


@dataclass(frozen=True)
class Survey:
    key: str
    title: str
    edition: str
    moment: str
    audience: tuple[str, ...]
    questions: tuple[Question, ...]
    minutes: int = 2
    days: int = 0  # eight_weeks: days after the newcomer's arrival

    def questions_for(self, audience: str) -> tuple[Question, ...]:
        """The questions a person of `audience` is asked, in order."""
        return tuple(q for q in self.questions if q.audience in (None, audience))

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)


@dataclass(frozen=True)
class Asking:
    reminders: int
    reminder_days: int
    link_days: int


@cache
def _config() -> dict:
    return read_toml(CONFIG_DIR / "surveys.toml")


def _question(survey: str, raw: dict) -> Question:
    where = f"config/surveys.toml, survey {survey!r}, question {raw.get('key')!r}"
    kind = raw.get("kind")
    if not raw.get("key") or not raw.get("text"):
        raise BadSurveys(f"{where}: every question needs a key and a text")
    if kind not in KINDS:
        raise BadSurveys(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    options = tuple(Option(str(o["key"]), str(o["words"])) for o in raw.get("options", []))
    if kind == "choice" and len(options) < 2:
        raise BadSurveys(f"{where}: a choice needs at least two options")
    if kind == "scale" and not (raw.get("low") and raw.get("high")):
        raise BadSurveys(f"{where}: a scale needs words for both ends (low and high)")
    if kind == "text" and int(raw.get("max_length", 0)) < 1:
        raise BadSurveys(f"{where}: a text question needs max_length")
    if raw.get("audience") not in (None, *AUDIENCES):
        raise BadSurveys(f"{where}: audience must be newcomer or volunteer")
    if raw.get("records") not in (None, FAMILY_ANSWER) or (
            raw.get("records") and {o.key for o in options} != {"carry_on", "finish"}):
        raise BadSurveys(f"{where}: records = \"family_answer\" needs the options carry_on "
                         "and finish")
    return Question(key=str(raw["key"]), kind=kind, text=str(raw["text"]), options=options,
                    low=str(raw.get("low", "")), high=str(raw.get("high", "")),
                    max_length=int(raw.get("max_length", 0)), audience=raw.get("audience"),
                    records=raw.get("records"))


@cache
def surveys() -> dict[str, Survey]:
    """Every survey by key, in the file's order.

    :raises BadSurveys: naming the survey and question that break a rule.
    """
    found = {}
    for key, raw in _config()["surveys"].items():
        if raw.get("moment") not in MOMENTS:
            raise BadSurveys(f"config/surveys.toml, survey {key!r}: moment must be one of "
                             f"{', '.join(MOMENTS)}")
        if any(a not in AUDIENCES for a in raw.get("audience", [])):
            raise BadSurveys(f"config/surveys.toml, survey {key!r}: audience must list "
                             "newcomer and/or volunteer")
        questions = tuple(_question(key, q) for q in raw.get("questions", []))
        if not questions or len({q.key for q in questions}) != len(questions):
            raise BadSurveys(f"config/surveys.toml, survey {key!r}: needs questions, each "
                             "with its own key")
        found[key] = Survey(key=key, title=str(raw["title"]), edition=str(raw["edition"]),
                            moment=raw["moment"], audience=tuple(raw["audience"]),
                            questions=questions, minutes=int(raw.get("minutes", 2)),
                            days=int(raw.get("days", 0)))
    return found


def at(moment: str) -> Survey | None:
    """The survey asked at `moment`, if the file has one."""
    return next((s for s in surveys().values() if s.moment == moment), None)


@cache
def asking() -> Asking:
    """How often and for how long a survey is asked."""
    raw = _config()["asking"]
    return Asking(reminders=int(raw["reminders"]), reminder_days=int(raw["reminder_days"]),
                  link_days=int(raw["link_days"]))
