"""The regression gate: given a comparison (`gbench.comparison.Comparison`), does a CI run pass or fail, and why.

`gbench compare --fail-on-regression [--fail-on-cost]` exits 1 exactly when `decide(...)` says `failed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GateDecision:
    failed: bool
    cannot_vouch: str | None = None  # why the gate cannot vouch for the candidate at all (one sentence), if so
    findings: list[str] = field(default_factory=list)  # the regression lines that failed it


def decide(result, fail_on_regression: bool = True, fail_on_cost: bool = False) -> GateDecision:
    """Fail on a metric regression (`fail_on_regression`) and/or a cost regression (`fail_on_cost`). With
    `fail_on_regression`, also fail when the comparison cannot vouch for the candidate: damaged records were left
    out (one could hide a regression), no (task, model) pair was compared, candidate jobs failed or diverged
    where the base's did not, or the two sides were tuned unequally (unless the settings allow it)."""
    from gbench.comparison.render import comparison_findings

    failed = bool((fail_on_regression and result.regressions) or (fail_on_cost and result.cost_regressions))
    why = None
    if fail_on_regression and (result.damaged or not result.pairs or result.failing_candidates):
        failing = ", ".join(f"{p.task} / {p.model}" for p in result.failing_candidates)
        why = (f"{len(result.damaged)} damaged record(s) were excluded, and one could hide a regression"
               if result.damaged else "no (task, model) pair could be compared" if not result.pairs else
               f"jobs failed or diverged in the candidate that did not in the base ({failing})")
        why = f"the regression gate cannot vouch for the candidate: {why}."
        failed = True
    if fail_on_regression and result.unequal_tuning and not result.settings.allow_unequal_tuning and not why:
        why = (f"the regression gate cannot vouch for the candidate: {len(result.unequal_tuning)} pair(s) were tuned "
               f"unequally ({result.unequal_tuning[0]}); tune both sides with the same sampler and budget "
               "(`gbench tune`), or pass --allow-unequal-tuning, which the output then records.")
        failed = True
    findings = [line for line in comparison_findings(result, fail_on_cost)
                if line.startswith(("REGRESSION", "COST REGRESSION", "FAILED JOBS", "UNEQUAL TUNING"))
                ] if failed else []
    return GateDecision(failed=failed, cannot_vouch=why, findings=findings)
