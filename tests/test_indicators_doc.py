"""docs/indicators.md is the one definition of every figure: the code's definitions, the
pages' texts and the document must agree."""

from __future__ import annotations

import re
from pathlib import Path

from buddy.services import indicators, outcomes, survey_results
from tests.factories import login

DOC = Path(__file__).resolve().parent.parent / "docs" / "indicators.md"


def _sections() -> dict[str, str]:
    """{key: the text under its heading} for every "### Words (`key`)" heading."""
    text = DOC.read_text()
    found = {}
    for match in re.finditer(r"^### [^\n]*\(`([a-z0-9_]+)`\)\n(.*?)(?=^#{2,3} |\Z)", text,
                             re.M | re.S):
        found[match[1]] = " ".join(match[2].split())
    return found


def test_every_figure_the_code_defines_has_a_heading_with_its_definition():
    sections = _sections()
    defined = {**indicators.DEFINITIONS, **survey_results.DEFINITIONS}
    assert set(indicators.FIGURES) <= set(indicators.DEFINITIONS)
    assert sorted(set(defined) - set(sections)) == []
    assert sorted(set(sections) - set(defined)) == []
    for key, words in defined.items():
        assert f"**Who is counted:** {' '.join(words.split())}" in sections[key], key
        assert "**When:**" in sections[key], key


def test_the_small_numbers_rule_is_the_one_coded():
    text = " ".join(DOC.read_text().split())
    assert indicators.SMALL == 5 and indicators.suppress(4) == "<5" and indicators.suppress(5) == 5
    assert "A number below 5 (0, 1, 2, 3 or 4) is shown as `<5`" in text
    assert f"`{survey_results.HIDDEN}`" in text
    assert "30 days" not in text  # no figure of another document slipped in
    assert outcomes.GROUP_WORDS[outcomes.ENGAGED] == "Still engaged at 8 weeks"
    assert "### Still engaged at 8 weeks (`engaged_8_weeks`)" in DOC.read_text()


def test_leads_read_the_document_and_the_pages_link_to_it(app, factory):
    lead = app.test_client()
    login(lead, factory.staff("lead", region="wessex").email)
    page = lead.get("/lead/figures").get_data(as_text=True)
    assert "How every figure is counted" in page
    assert "Still engaged at 8 weeks" in page and "The analysts" in page
    assert "/lead/figures" in lead.get("/lead/").get_data(as_text=True)
    admin = app.test_client()
    login(admin, factory.staff("admin").email)
    assert "/lead/figures" in admin.get("/admin/indicators").get_data(as_text=True)
    assert "/lead/figures" in admin.get("/admin/results").get_data(as_text=True)
