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

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from math import comb
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gbench.errors import GbenchError

Verdict = Literal["better", "worse", "no detectable change", "too few seeds to tell"]
COST_COLUMNS = {"s_per_epoch": "seconds per epoch", "peak_memory_mb": "peak memory (MB)"}
CSV_REQUIRED = ["task", "model", "metric", "mean", "std", "n_seeds"]


@dataclass
class Sample:
    """One (task, model) on one side: the per-seed (or per-fold) values, or only their summary statistics."""

    task: str
    model: str
    metric: str
    higher_is_better: bool
    task_version: int | None
    mean: float
    std: float
    n: int
    values: list[float] | None = None  # None: the side is a leaderboard CSV
    costs: dict[str, list[float] | float] = field(default_factory=dict)  # per-seed list, or a CSV mean
    cost_kind: str | None = None  # peak memory measured how (records only)
    std_over: str = "seeds"
    n_not_ok: int = 0  # jobs that failed, ran out of memory or diverged


@dataclass
class Side:
    source: str
    kind: Literal["records", "csv"]
    samples: dict[tuple[str, str], Sample]
    warnings: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # record files excluded because they are not intact


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
                f"{self.cost_tolerance_rel:.0%} of the base.")


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
            "base": self.base, "candidate": self.candidate, "settings": asdict(self.settings),
            "method": self.settings.describe(), "pairs": [asdict(p) for p in self.pairs],
            "costs": [asdict(c) for c in self.costs],
            "only_in_base": [asdict(u) for u in self.only_base],
            "only_in_candidate": [asdict(u) for u in self.only_candidate],
            "not_compared": [asdict(u) for u in self.not_compared], "notes": self.notes,
            "damaged_records": self.damaged,
            "regressions": [f"{p.task} / {p.model}" for p in self.regressions],
            "cost_regressions": [f"{c.task} / {c.model} / {c.column}" for c in self.cost_regressions],
        })


# ---------------------------------------------------------------------------------------------------------------
# Reading a side


def load_side(source: Path | str, model: str | None = None, rename: str | None = None) -> Side:
    """A results directory (its records) or a leaderboard CSV; `model` keeps only that model, keyed as `rename`."""
    path = Path(source)
    if path.is_dir():
        side = _side_from_records(path)
    elif path.is_file() and path.suffix == ".csv":
        side = _side_from_csv(path)
    elif path.exists():
        raise GbenchError(f"'{source}': give a results directory (with records/) or a leaderboard .csv file.")
    else:
        raise GbenchError(f"'{source}' does not exist: give a results directory or a leaderboard CSV.")
    if model is not None:
        kept = {k: s for k, s in side.samples.items() if s.model == model}
        if not kept:
            have = sorted({s.model for s in side.samples.values()})
            raise GbenchError(f"model '{model}' has no results in {source}; it has: {', '.join(have) or 'none'}.")
        for s in kept.values():
            s.model = rename or model
        side.samples = {(t, rename or model): s for (t, _), s in kept.items()}
    return side


def _side_from_records(root: Path) -> Side:
    from gbench.results import ResultStore, per_unit_values

    store = ResultStore(root)
    if not store.records_dir.is_dir():
        raise GbenchError(f"'{root}' has no records/ folder: give a results directory written by `gbench run` "
                          "or a leaderboard CSV.")
    records, problems = store.load()
    side = Side(str(root), "records", {}, [f"excluded damaged record: {p}" for p in problems], list(problems))
    groups: dict[tuple, list] = {}
    for r in records:
        groups.setdefault((r.task, r.task_version, r.model, r.model_hash), []).append(r)
    names: dict[tuple[str, str], set] = {}
    for task, version, model, mhash in groups:
        names.setdefault((task, model), set()).add((version, mhash))
    for (task, version, model, mhash), recs in sorted(groups.items()):
        first = recs[0]
        ok = sorted((r for r in recs if r.status == "ok"), key=lambda r: r.seed)
        # The same naming as the leaderboard (gbench.results.aggregate) when one directory holds two versions.
        name = model if len(names[(task, model)]) == 1 else f"{model}@{mhash[:8]}"
        values = per_unit_values(recs, first.test_splits[0])
        costs: dict[str, list[float] | float] = {
            "s_per_epoch": [r.cost.s_per_epoch for r in ok if r.cost.s_per_epoch is not None],
            "peak_memory_mb": [r.cost.peak_memory_mb for r in ok if r.cost.peak_memory_mb is not None],
        }
        kinds = {r.cost.peak_memory_kind for r in ok}
        failed = len(recs) - len(ok)
        if failed:
            side.warnings.append(f"{task} / {name}: {failed} job(s) not ok (failed, oom or diverged) in {root}; "
                                 "only the ok seeds are compared.")
        side.samples[(task, name)] = Sample(
            task=task, model=name, metric=first.metric, higher_is_better=first.higher_is_better,
            task_version=version, mean=_mean(values), std=_sd(values), n=len(values), values=values,
            costs=costs, cost_kind=",".join(sorted(k for k in kinds if k)) or None, std_over=first.std_over,
            n_not_ok=failed)
    return side


def _side_from_csv(path: Path) -> Side:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as e:  # pandas raises several types for a file that is not a CSV
        raise GbenchError(f"{path}: not a readable CSV ({e}).") from None
    missing = [c for c in CSV_REQUIRED + ["higher_is_better"] if c not in frame.columns]
    if missing:
        raise GbenchError(f"{path}: not a gbench leaderboard CSV, missing column(s) {', '.join(missing)}; "
                          "give the leaderboard.csv that `gbench run` wrote, or the results directory.")
    side = Side(str(path), "csv", {})
    for row in frame.to_dict("records"):
        version = row.get("task_version")
        version = None if version is None or (isinstance(version, float) and math.isnan(version)) else int(version)
        hib = row["higher_is_better"]
        hib = hib if isinstance(hib, bool) else str(hib).strip().lower() in ("true", "1")
        costs = {c: float(row[c]) for c in COST_COLUMNS if c in row and _finite(row[c])}
        side.samples[(str(row["task"]), str(row["model"]))] = Sample(
            task=str(row["task"]), model=str(row["model"]), metric=str(row["metric"]), higher_is_better=hib,
            task_version=version, mean=float(row["mean"]), std=float(row["std"]),
            n=int(row["n_seeds"]) if _finite(row["n_seeds"]) else 0, values=None, costs=costs,
            n_not_ok=sum(int(row[c]) for c in ("n_failed", "n_diverged") if c in row and _finite(row[c])),
            std_over=str(row.get("std_over", "seeds")) if _finite_or_str(row.get("std_over")) else "seeds")
    return side


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _finite_or_str(v: Any) -> bool:
    return isinstance(v, str) or _finite(v)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# Statistics


def mannwhitney_min_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value Mann-Whitney U can give for n1 vs n2 untied values (exact distribution):
    the two most extreme of the C(n1+n2, n1) equally likely orderings. 3 vs 3 -> 0.1, 5 vs 5 -> 1/126."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2.0 / comb(n1 + n2, n1))


def welch_p(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int) -> tuple[float, str | None]:
    """Two-sided Welch's t-test p from summary statistics (scipy.stats.ttest_ind_from_stats).

    Zero variance on both sides is decided exactly: equal means give p = 1, different means p = 0 (the t statistic
    is infinite), instead of scipy's NaN."""
    from scipy import stats

    if s1 == 0 and s2 == 0:
        if m1 == m2:
            return 1.0, "identical values on both sides"
        return 0.0, "no spread on either side: every seed gives the same value, and the two values differ"
    p = float(stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=False).pvalue)
    return p, None


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error rate), in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def adjust(pvalues: list[float], method: str) -> list[float]:
    if not pvalues:
        return []
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        from scipy.stats import false_discovery_control

        return [float(p) for p in false_discovery_control(pvalues, method="bh")]
    return list(pvalues)


def bootstrap_ci(base: list[float], cand: list[float], higher_is_better: bool, settings: Settings
                 ) -> tuple[float, float]:
    """Percentile-bootstrap CI of the gain (difference of means, + is better), resampling each side on its own.
    Percentile rather than BCa: BCa's jackknife is undefined for the constant samples deterministic reruns give."""
    from scipy import stats

    sign = 1.0 if higher_is_better else -1.0
    a, b = np.asarray(cand, dtype=float), np.asarray(base, dtype=float)
    if np.all(a == a[0]) and np.all(b == b[0]):
        d = sign * float(a[0] - b[0])
        return d, d

    def gain(x, y, axis=-1):
        return sign * (np.mean(x, axis=axis) - np.mean(y, axis=axis))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "degenerate distribution" for near-constant samples; the CI is still right
        res = stats.bootstrap((a, b), gain, n_resamples=settings.n_resamples, confidence_level=settings.confidence,
                              method="percentile", vectorized=True, rng=np.random.default_rng(settings.bootstrap_seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


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


def compare_sides(base: Side, cand: Side, settings: Settings | None = None) -> Comparison:
    """Match pairs, test each, correct over all pairs tested, give verdicts; then costs."""
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
    for key in sorted(set(base.samples) & set(cand.samples)):
        b, c = base.samples[key], cand.samples[key]
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
                      notes + base.warnings + cand.warnings, base.damaged + cand.damaged)


def _test_pair(b: Sample, c: Sample, s: Settings) -> PairResult:
    sign = 1.0 if b.higher_is_better else -1.0
    gain = sign * (c.mean - b.mean) if _finite(c.mean) and _finite(b.mean) else float("nan")
    gain_rel = gain / abs(b.mean) if _finite(gain) and b.mean != 0 else None
    p = PairResult(task=b.task, model=b.model, metric=b.metric, higher_is_better=b.higher_is_better,
                   task_version=b.task_version, base_mean=b.mean, base_std=b.std, base_n=b.n, cand_mean=c.mean,
                   cand_std=c.std, cand_n=c.n, gain=gain, gain_rel=gain_rel,
                   exceeds_tolerance=_finite(gain) and _exceeds(gain, b.mean, s), base_not_ok=b.n_not_ok,
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
        p.ci_low, p.ci_high = bootstrap_ci(b.values, c.values, b.higher_is_better, s)
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
        bm = _mean(bv) if isinstance(bv, list) else bv
        cm = _mean(cv) if isinstance(cv, list) else cv
        if bm is None or cm is None or not (_finite(bm) and _finite(cm)):
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
            cr.p_welch, _ = welch_p(cm, _sd(cv), len(cv), bm, _sd(bv), len(bv))
        if cr.ratio > 1 + s.cost_tolerance_rel:
            cr.verdict = "more expensive"
        elif cr.ratio < 1 / (1 + s.cost_tolerance_rel):
            cr.verdict = "cheaper"
        out.append(cr)
    return out


def compare(base: Path | str, candidate: Path | str | None = None, *, base_model: str | None = None,
            candidate_model: str | None = None, settings: Settings | None = None) -> Comparison:
    """Compare two results directories / leaderboard CSVs, or two models (`base_model` vs `candidate_model`)
    within one (candidate None) or across two."""
    if (base_model is None) != (candidate_model is None):
        raise GbenchError("give both --base-model and --candidate-model to compare two models, or neither.")
    if candidate is None and base_model is None:
        raise GbenchError("give a CANDIDATE results directory or CSV, or --base-model and --candidate-model to "
                          "compare two models within one results directory.")
    candidate = candidate if candidate is not None else base
    if base_model is not None:
        label = f"{candidate_model} vs {base_model}"
        b = load_side(base, base_model, label)
        c = load_side(candidate, candidate_model, label)
        b.source, c.source = f"{base} [{base_model}]", f"{candidate} [{candidate_model}]"
    else:
        b, c = load_side(base), load_side(candidate)
    if not b.samples:
        raise GbenchError(f"{base}: no results in it.")
    if not c.samples:
        raise GbenchError(f"{candidate}: no results in it.")
    return compare_sides(b, c, settings)
