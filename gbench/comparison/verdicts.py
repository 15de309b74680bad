"""Verdicts: match the pairs of two sides, test each, correct over all pairs at once, and decide; then costs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from gbench.comparison.sides import COST_COLUMNS, Sample, Side, finite, sample_mean, sample_sd, load_side
from gbench.comparison.stats import adjust, bootstrap_ci, mannwhitney_min_p, welch_p
from gbench.errors import GbenchError

Verdict = Literal["better", "worse", "no detectable change", "too few seeds to tell"]


@dataclass
class Settings:
    alpha: float = 0.05
    tolerance_rel: float | None = 0.01
    tolerance_abs: float | None = None
    min_seeds: int = 3
    correction: Literal["holm", "bh", "none"] = "holm"
    cost_tolerance_rel: float = 0.5
    confidence: float = 0.95
    n_resamples: int = 10_000
    bootstrap_seed: int = 0
    allow_unequal_tuning: bool = False  # compare a tuned side with an untuned one (or unequal budgets) anyway

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise GbenchError(f"--alpha {self.alpha}: give a significance level between 0 and 1, e.g. 0.05.")
        if self.tolerance_rel is None and self.tolerance_abs is None:
            raise GbenchError("give at least one tolerance (--tolerance-rel or --tolerance-abs); 0 means any change.")
        for name, v in (("--tolerance-rel", self.tolerance_rel), ("--tolerance-abs", self.tolerance_abs),
                        ("--cost-tolerance", self.cost_tolerance_rel)):
            if v is not None and v < 0:
                raise GbenchError(f"{name} {v}: a tolerance cannot be negative.")
        if self.min_seeds < 2:
            raise GbenchError(f"--min-seeds {self.min_seeds}: a t-test needs at least 2 seeds per side.")
        if self.correction not in ("holm", "bh", "none"):
            raise GbenchError(f"--correction '{self.correction}': choose holm, bh or none.")

    def describe(self) -> str:
        tol = []
        if self.tolerance_rel is not None:
            tol.append(f"{self.tolerance_rel:.2%} of the base mean")
        if self.tolerance_abs is not None:
            tol.append(f"{self.tolerance_abs:g} absolute")
        corr = {"holm": "Holm step-down correction (family-wise error)",
                "bh": "Benjamini-Hochberg correction (false discovery rate, scipy.stats.false_discovery_control)",
                "none": "no multiple-testing correction"}[self.correction]
        return (f"A change counts only if it exceeds the tolerance ({' and '.join(tol)}) and Welch's t-test is "
                f"significant at alpha {self.alpha:g} after {corr} over all pairs compared; at least "
                f"{self.min_seeds} seeds per side. Bootstrap: {self.confidence:.0%} percentile CI of the gain, "
                f"{self.n_resamples} resamples, seed {self.bootstrap_seed}. Cost tolerance: "
                f"{self.cost_tolerance_rel:.0%} of the base."
                + (" Unequal tuning allowed by --allow-unequal-tuning: a tuned side may be compared with an "
                   "untuned one or one tuned with another budget." if self.allow_unequal_tuning else ""))


@dataclass
class PairResult:
    task: str
    model: str
    metric: str
    higher_is_better: bool
    task_version: int | None
    base_mean: float
    base_std: float
    base_n: int
    cand_mean: float
    cand_std: float
    cand_n: int
    gain: float  # + is better: candidate - base, or base - candidate for lower-is-better metrics
    gain_rel: float | None  # gain / |base mean|
    exceeds_tolerance: bool
    p_welch: float | None = None
    p_adjusted: float | None = None
    p_mannwhitney: float | None = None
    mannwhitney_min_p: float | None = None
    ci_low: float | None = None  # bootstrap CI of the gain
    ci_high: float | None = None
    verdict: Verdict = "no detectable change"
    notes: list[str] = field(default_factory=list)
    base_not_ok: int = 0
    cand_not_ok: int = 0  # candidate jobs that failed or diverged: the gate cannot vouch for those


@dataclass
class CostResult:
    task: str
    model: str
    column: str
    base: float
    candidate: float
    ratio: float | None  # candidate / base; > 1 is more expensive
    p_welch: float | None
    verdict: Literal["more expensive", "cheaper", "no detectable change", "not measured"]
    notes: list[str] = field(default_factory=list)


@dataclass
class Unmatched:
    task: str
    model: str
    reason: str


@dataclass
class Comparison:
    base: str
    candidate: str
    settings: Settings
    pairs: list[PairResult]
    costs: list[CostResult]
    only_base: list[Unmatched]
    only_candidate: list[Unmatched]
    not_compared: list[Unmatched]
    notes: list[str]
    damaged: list[str] = field(default_factory=list)
    unequal_tuning: list[str] = field(default_factory=list)  # 'task / model: base ..., candidate ...'
    split: str | None = None  # the test split compared; None: each task's headline split

    @property
    def regressions(self) -> list[PairResult]:
        return [p for p in self.pairs if p.verdict == "worse"]

    @property
    def failing_candidates(self) -> list[PairResult]:
        """Pairs whose candidate has failed or diverged jobs that the base did not have."""
        return [p for p in self.pairs if p.cand_not_ok > p.base_not_ok]

    @property
    def cost_regressions(self) -> list[CostResult]:
        return [c for c in self.costs if c.verdict == "more expensive"]

    def to_dict(self) -> dict[str, Any]:
        def clean(obj):
            if isinstance(obj, float) and not math.isfinite(obj):
                return None
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [clean(v) for v in obj]
            return obj

        return clean({
            "base": self.base, "candidate": self.candidate, "split": self.split, "settings": asdict(self.settings),
            "method": self.settings.describe(), "pairs": [asdict(p) for p in self.pairs],
            "costs": [asdict(c) for c in self.costs],
            "only_in_base": [asdict(u) for u in self.only_base],
            "only_in_candidate": [asdict(u) for u in self.only_candidate],
            "not_compared": [asdict(u) for u in self.not_compared], "notes": self.notes,
            "damaged_records": self.damaged, "unequal_tuning": self.unequal_tuning,
            "regressions": [f"{p.task} / {p.model}" for p in self.regressions],
            "cost_regressions": [f"{c.task} / {c.model} / {c.column}" for c in self.cost_regressions],
        })


def _exceeds(gain: float, base_mean: float, s: Settings) -> bool:
    """Larger than every tolerance given (relative to |base mean|, and absolute)."""
    size = abs(gain)
    if size == 0:
        return False
    if s.tolerance_abs is not None and size <= s.tolerance_abs:
        return False
    if s.tolerance_rel is not None:
        if base_mean == 0:
            return s.tolerance_abs is not None  # no relative scale: fall back on the absolute tolerance alone
        if size <= s.tolerance_rel * abs(base_mean):
            return False
    return True


def compare_sides(base: Side, cand: Side, settings: Settings | None = None, split: str | None = None) -> Comparison:
    """Match pairs, test each, correct over all pairs tested, give verdicts; then costs. `split` names the test
    split both sides were loaded on (None: each task's headline split)."""
    s = settings or Settings()
    notes: list[str] = []
    if base.kind == "csv" or cand.kind == "csv":
        notes.append("A leaderboard CSV holds only mean, std and seeds: Welch's t-test is computed from those "
                     "summary statistics (scipy.stats.ttest_ind_from_stats); Mann-Whitney U and the bootstrap "
                     "need per-seed values, so give results directories for them.")
    only_base = [Unmatched(t, m, f"only in base ({base.source})") for (t, m) in sorted(base.samples)
                 if (t, m) not in cand.samples]
    only_cand = [Unmatched(t, m, f"only in candidate ({cand.source})") for (t, m) in sorted(cand.samples)
                 if (t, m) not in base.samples]
    not_compared: list[Unmatched] = []
    pairs: list[PairResult] = []
    matched: list[tuple[Sample, Sample]] = []
    unequal: list[str] = []
    for key in sorted(set(base.samples) & set(cand.samples)):
        b, c = base.samples[key], cand.samples[key]
        lacking = [f"{who}: {x.missing_split}" for who, x in (("base", b), ("candidate", c)) if x.missing_split]
        if lacking:
            not_compared.append(Unmatched(*key, "; ".join(lacking)))
            continue
        if b.task_version is not None and c.task_version is not None and b.task_version != c.task_version:
            not_compared.append(Unmatched(*key, f"task version differs (base v{b.task_version}, candidate "
                                                f"v{c.task_version}): the numbers are not comparable"))
            continue
        if b.metric != c.metric or b.higher_is_better != c.higher_is_better:
            not_compared.append(Unmatched(*key, f"metric differs (base {b.metric}, candidate {c.metric})"))
            continue
        if b.std_over != c.std_over:
            not_compared.append(Unmatched(*key, f"std is over {b.std_over} in base but {c.std_over} in candidate"))
            continue
        matched.append((b, c))
        pairs.append(_test_pair(b, c, s))
        if b.tuning != c.tuning:
            unequal.append(f"{key[0]} / {key[1]}: base {_tuned(b.tuning)}, candidate {_tuned(c.tuning)}")
    tested = [p for p in pairs if p.p_welch is not None]
    for p, adj in zip(tested, adjust([p.p_welch for p in tested], s.correction)):
        p.p_adjusted = adj
    for p in pairs:
        p.verdict = _verdict(p, s)
    costs = [cr for b, c in matched for cr in _compare_costs(b, c, s)]
    cost_tested = [cr for cr in costs if cr.p_welch is not None]
    for cr, adj in zip(cost_tested, adjust([cr.p_welch for cr in cost_tested], s.correction)):
        if cr.verdict != "not measured" and adj >= s.alpha and cr.verdict != "no detectable change":
            cr.notes.append(f"beyond the tolerance but not significant (corrected p {adj:.3g})")
            cr.verdict = "no detectable change"
    return Comparison(base.source, cand.source, s, pairs, costs, only_base, only_cand, not_compared,
                      notes + base.warnings + cand.warnings, base.damaged + cand.damaged, unequal, split)


def _tuned(label: str) -> str:
    return "not tuned" if label == "no" else f"tuned ({label})"


def _test_pair(b: Sample, c: Sample, s: Settings) -> PairResult:
    sign = 1.0 if b.higher_is_better else -1.0
    gain = sign * (c.mean - b.mean) if finite(c.mean) and finite(b.mean) else float("nan")
    gain_rel = gain / abs(b.mean) if finite(gain) and b.mean != 0 else None
    p = PairResult(task=b.task, model=b.model, metric=b.metric, higher_is_better=b.higher_is_better,
                   task_version=b.task_version, base_mean=b.mean, base_std=b.std, base_n=b.n, cand_mean=c.mean,
                   cand_std=c.std, cand_n=c.n, gain=gain, gain_rel=gain_rel,
                   exceeds_tolerance=finite(gain) and _exceeds(gain, b.mean, s), base_not_ok=b.n_not_ok,
                   cand_not_ok=c.n_not_ok)
    if b.n < s.min_seeds or c.n < s.min_seeds:
        p.notes.append(f"{b.n} vs {c.n} seeds: at least {s.min_seeds} per side are needed to test a change "
                       "(run more seeds: gbench run --seeds N)")
        return p
    if "folds" in (b.std_over, c.std_over) and (b.values is None or c.values is None):
        p.notes.append("std over folds in a leaderboard CSV: the number of folds is not in it; compare results "
                       "directories instead")
        return p
    p.p_welch, why = welch_p(c.mean, c.std, c.n, b.mean, b.std, b.n)
    if why:
        p.notes.append(why)
    elif b.values is not None and b.values == c.values:
        p.notes.append("the same value for every seed on both sides (a deterministic rerun)")
    if b.values is not None and c.values is not None:
        p.mannwhitney_min_p = mannwhitney_min_p(b.n, c.n)
        if p.mannwhitney_min_p >= s.alpha:
            p.notes.append(f"Mann-Whitney U not run: with {b.n} vs {c.n} seeds its smallest two-sided p is "
                           f"{p.mannwhitney_min_p:.3g}, never below alpha {s.alpha:g}")
        elif len(set(b.values) | set(c.values)) == 1:
            p.p_mannwhitney = 1.0
        else:
            from scipy.stats import mannwhitneyu

            p.p_mannwhitney = float(mannwhitneyu(c.values, b.values, alternative="two-sided").pvalue)
        p.ci_low, p.ci_high = bootstrap_ci(b.values, c.values, b.higher_is_better, confidence=s.confidence,
                                          n_resamples=s.n_resamples, seed=s.bootstrap_seed)
    return p


def _verdict(p: PairResult, s: Settings) -> Verdict:
    if p.p_welch is None:
        return "too few seeds to tell"
    significant = p.p_adjusted is not None and p.p_adjusted < s.alpha
    if significant and p.exceeds_tolerance:
        return "better" if p.gain > 0 else "worse"
    if significant:
        p.notes.append("significant but within the tolerance")
    elif p.exceeds_tolerance:
        p.notes.append("beyond the tolerance but not significant after correction")
    return "no detectable change"


def _compare_costs(b: Sample, c: Sample, s: Settings) -> list[CostResult]:
    out = []
    for column in COST_COLUMNS:
        bv, cv = b.costs.get(column), c.costs.get(column)
        bm = sample_mean(bv) if isinstance(bv, list) else bv
        cm = sample_mean(cv) if isinstance(cv, list) else cv
        if bm is None or cm is None or not (finite(bm) and finite(cm)):
            continue
        cr = CostResult(b.task, b.model, column, float(bm), float(cm), None, None, "no detectable change")
        if column == "peak_memory_mb" and b.cost_kind and c.cost_kind and b.cost_kind != c.cost_kind:
            cr.verdict = "not measured"
            cr.notes.append(f"measured differently ({b.cost_kind} vs {c.cost_kind})")
            out.append(cr)
            continue
        if bm <= 0:
            cr.verdict = "not measured"
            out.append(cr)
            continue
        cr.ratio = cm / bm
        if isinstance(bv, list) and isinstance(cv, list) and len(bv) >= s.min_seeds and len(cv) >= s.min_seeds:
            cr.p_welch, _ = welch_p(cm, sample_sd(cv), len(cv), bm, sample_sd(bv), len(bv))
        if cr.ratio > 1 + s.cost_tolerance_rel:
            cr.verdict = "more expensive"
        elif cr.ratio < 1 / (1 + s.cost_tolerance_rel):
            cr.verdict = "cheaper"
        out.append(cr)
    return out


def compare(base: Path | str, candidate: Path | str | None = None, *, base_model: str | None = None,
            candidate_model: str | None = None, base_task: str | None = None, candidate_task: str | None = None,
            settings: Settings | None = None, split: str | None = None) -> Comparison:
    """Compare two results directories / leaderboard CSVs, or two models (`base_model` vs `candidate_model`) or two
    tasks (`base_task` vs `candidate_task`, e.g. a task and its variant) within one (candidate None) or across two;
    on `split` (a test split such as test_far_ood) instead of each task's headline test split."""
    if (base_model is None) != (candidate_model is None):
        raise GbenchError("give both --base-model and --candidate-model to compare two models, or neither.")
    if (base_task is None) != (candidate_task is None):
        raise GbenchError("give both --base-task and --candidate-task to compare two tasks, or neither.")
    if candidate is None and base_model is None and base_task is None:
        raise GbenchError("give a CANDIDATE results directory or CSV, or --base-model and --candidate-model (or "
                          "--base-task and --candidate-task) to compare within one results directory.")
    candidate = candidate if candidate is not None else base
    models = f"{candidate_model} vs {base_model}" if base_model is not None else None
    tasks = f"{candidate_task} vs {base_task}" if base_task is not None else None
    b = load_side(base, base_model, models, base_task, tasks, split)
    c = load_side(candidate, candidate_model, models, candidate_task, tasks, split)
    if models or tasks:
        b.source = f"{base} [{', '.join(x for x in (base_task, base_model) if x)}]"
        c.source = f"{candidate} [{', '.join(x for x in (candidate_task, candidate_model) if x)}]"
    if not b.samples:
        raise GbenchError(f"{base}: no results in it.")
    if not c.samples:
        raise GbenchError(f"{candidate}: no results in it.")
    for side, where in ((b, base), (c, candidate)):
        if split and all(x.missing_split for x in side.samples.values()):
            have = sorted({h for x in side.samples.values() for h in x.test_splits})
            why = " (not the validation split: models were selected on it)" if split.startswith("val") else ""
            raise GbenchError(f"--split {split}: no result in {where} has that test split; give one of "
                              f"{', '.join(have)}{why}.")
    return compare_sides(b, c, settings, split)
