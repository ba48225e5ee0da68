"""Synthetic cohorts are valid, deterministic and sized from config/."""

from matching import load_cohort
from matching.synthetic import national_cohort, region_cohort


def test_region_cohort_deterministic_and_valid():
    a = region_cohort("thames-valley", seed=4)
    assert a == region_cohort("thames-valley", seed=4)
    assert a != region_cohort("thames-valley", seed=5)
    c = load_cohort(a)
    assert 80 <= len(c.role("newcomer")) <= 95
    assert c.person("n-thames-valley-0001").role == "newcomer"
    assert any(p.role == "ambassador" for p in c.people)


def test_region_cohort_size_override():
    c = load_cohort(region_cohort("wessex", seed=1, newcomers=30))
    assert len(c.role("newcomer")) == 30
    assert 20 <= len(c.role("buddy")) <= 30


def test_national_cohort_sizes():
    data = national_cohort(seed=0)
    c = load_cohort(data)
    news = c.role("newcomer")
    vols = [p for p in c.people if p.role in ("buddy", "ambassador")]
    assert 2100 <= len(news) <= 2350
    assert 2150 <= len(vols) <= 2450
    assert 450 <= len(c.role("ambassador")) <= 550
    assert len(c.regions()) == 11
    feb = sum(1 for n in news if n.arrival.month == 2) / len(news)
    assert 0.05 <= feb <= 0.15
