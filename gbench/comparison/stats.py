"""The statistics of `gbench compare`: Welch's t-test from summary statistics, Mann-Whitney U's reach, multiple-
testing corrections and a seeded bootstrap confidence interval of a gain. Pure functions of numbers (scipy)."""

from __future__ import annotations

import warnings
from math import comb

import numpy as np




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


def bootstrap_ci(base: list[float], cand: list[float], higher_is_better: bool, *, confidence: float = 0.95,
                 n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
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
        res = stats.bootstrap((a, b), gain, n_resamples=n_resamples, confidence_level=confidence,
                              method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
