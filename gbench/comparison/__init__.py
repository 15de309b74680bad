"""Is a change better, worse, or noise? Statistics and verdicts for two sets of results.

Each side is a results directory (per-seed values, read from its records) or a leaderboard CSV (mean, std and
number of seeds only). Pairs are matched on (task, model); for every pair on both sides:

- the two means and the gain, absolute and relative to the base mean, signed so that + is better whatever the
  metric's direction (`higher_is_better`);
- Welch's t-test (scipy; from the summary statistics, so it works for CSV sides too) -- the test the verdict uses;
- Mann-Whitney U (scipy) only where it can reach significance with the seeds at hand: its smallest two-sided p
  for n1 vs n2 seeds without ties is 2 / C(n1 + n2, n1) (0.1 for 3 vs 3), and where that is not below alpha the
  test is not run and the report says so;
- a seeded percentile-bootstrap confidence interval of the gain (scipy.stats.bootstrap);
- a verdict: better, worse, no detectable change, or too few seeds to tell.

A change is `worse` (a regression) only when it is larger than the tolerance (relative and/or absolute, both
written in the output) **and** significant after Holm's step-down correction over every pair compared at once.
Cost (seconds per epoch, peak memory) is compared on its own with its own tolerance and never turns a metric
verdict into a regression. Pairs on one side only, and pairs whose task versions or metrics differ, are listed,
never silently dropped and never compared as if equal.

Everything here reads records or leaderboard CSVs and nothing else.
"""

from gbench.comparison.sides import COST_COLUMNS, Sample, Side, load_side
from gbench.comparison.stats import adjust, bootstrap_ci, holm, mannwhitney_min_p, welch_p
from gbench.comparison.verdicts import (
    Comparison,
    CostResult,
    PairResult,
    Settings,
    Unmatched,
    Verdict,
    compare,
    compare_sides,
)

__all__ = [
    "COST_COLUMNS", "Comparison", "CostResult", "PairResult", "Sample", "Settings", "Side", "Unmatched", "Verdict",
    "adjust", "bootstrap_ci", "compare", "compare_sides", "holm", "load_side", "mannwhitney_min_p", "welch_p",
]
