"""Buddy's optimiser: buddy families and ambassador pairs (contract: spec/matching.md).

Imports nothing from the web app; run it alone with `python -m matching`.
"""

from .ambassadors import solve_ambassadors
from .schema import Cohort, CohortError, NoSolution, load_cohort
from .solve import solve_families
from .validate import metrics, validate

__all__ = [
    "Cohort",
    "CohortError",
    "NoSolution",
    "load_cohort",
    "metrics",
    "solve_ambassadors",
    "solve_families",
    "validate",
]
