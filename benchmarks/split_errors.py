"""Is the difference between two splits' scores larger than their graphs' sampling noise? Per-graph statistics
from records that kept their outputs (`--set train.keep_predictions=true`, graph tasks).

    python benchmarks/split_errors.py RESULTS_DIR [--a val] [--b test_id] [--model gcn-degree] [--resamples 9999]

For each such record (each fold, on a k-fold task): each split's metric recomputed from the kept outputs (and
checked against the record's own), the difference A - B, a 95 % bootstrap interval for it (`gbench compare`'s
seeded percentile bootstrap, scipy's, the two splits resampled independently) and a two-sided permutation
p-value (scipy.stats.permutation_test, graphs exchanged between the two splits), each split's standard error, and, for regression, each split's mean
label and how the per-graph error goes with the label (Spearman). Only metrics that are a mean over graphs: `mae`
(per-graph absolute error) and `accuracy` (per-graph correctness, as gbench's accuracy reads the outputs).

What it can and cannot say: the splits of a generated task are independent draws from one generator, so under the
null hypothesis the two splits' per-graph scores are exchangeable; a small p says the gap is larger than a random
split of those graphs gives, which validation selection (it favours the selected epoch on `val`) can cause. A
diagnostic, not a selection rule (benchmarks/README.md section 19).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from gbench.comparison.stats import bootstrap_ci
from gbench.metrics import class_ids
from gbench.results import ResultStore, read_record

PER_GRAPH = {"mae": "absolute error", "accuracy": "correct"}


def per_graph(metric: str, kept: dict) -> np.ndarray:
    """One value per graph whose mean is the split's metric."""
    y = np.asarray(kept["y"], dtype=float)
    score = np.asarray(kept["score"], dtype=float)
    if metric == "mae":
        return np.abs(score.reshape(y.shape) - y).reshape(len(y), -1).mean(axis=1)
    return (class_ids(score).astype(int) == y.reshape(-1).astype(int)).astype(float)  # as the accuracy metric reads


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def compare(a: np.ndarray, b: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float, float, float]:
    """(A - B, bootstrap low, bootstrap high, permutation p). The interval is `gbench compare`'s own seeded
    percentile bootstrap of a difference of means (gbench.comparison.stats.bootstrap_ci, A as the candidate)."""
    low, high = bootstrap_ci(list(b), list(a), higher_is_better=True, n_resamples=resamples, seed=seed)
    perm = stats.permutation_test((a, b), _mean_difference, permutation_type="independent", vectorized=True,
                                  n_resamples=resamples, alternative="two-sided", rng=np.random.default_rng(seed))
    return float(_mean_difference(a, b)), low, high, float(perm.pvalue)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a results directory holding records with extra.predictions")
    parser.add_argument("--a", default="val", help="the first split (default: val)")
    parser.add_argument("--b", default="test_id", help="the second split (default: test_id)")
    parser.add_argument("--model", help="only this model's records")
    parser.add_argument("--resamples", type=int, default=9999, help="bootstrap and permutation resamples")
    args = parser.parse_args(argv)

    records = [read_record(p) for p in ResultStore(args.results).record_paths()]
    units = []  # (name, record, kept outputs, the record's metric per split): one per record, or per fold of k-fold
    for rec in sorted(records, key=lambda r: (r.task, r.model, r.seed)):
        extra = rec.extra or {}
        if rec.status != "ok" or (args.model is not None and rec.model != args.model):
            continue
        name = f"{rec.task} / {rec.model} / seed {rec.seed}"
        if extra.get("predictions"):
            units.append((name, rec, extra["predictions"], {s: m[rec.metric] for s, m in rec.metrics.items()}))
        for fold, preds in enumerate(extra.get("fold_predictions") or []):
            units.append((f"{name} / fold {fold}", rec, preds,
                          {s: v[fold] for s, v in extra["fold_metrics"].items()}))
    if not units:
        print(f"{args.results}: no records with per-graph outputs (run with --set train.keep_predictions=true)",
              file=sys.stderr)
        return 1
    for name, rec, preds, recorded in units:
        if rec.metric not in PER_GRAPH:
            print(f"{rec.task}: metric {rec.metric!r} is not a mean over graphs; this script takes "
                  f"{' or '.join(PER_GRAPH)}.", file=sys.stderr)
            return 2
        missing = [s for s in (args.a, args.b) if s not in preds]
        if missing:
            print(f"--a/--b: {name} kept no split {missing[0]!r}; it kept {', '.join(preds)}.", file=sys.stderr)
            return 2
        values = {s: per_graph(rec.metric, preds[s]) for s in (args.a, args.b)}
        for split, v in values.items():  # the kept outputs are the ones the record's metric was computed from
            if not np.isclose(v.mean(), recorded[split], rtol=1e-5, atol=1e-6):
                print(f"{name}: the kept {split} outputs give {v.mean():.6f}, the record {recorded[split]:.6f}; "
                      "the record is inconsistent.", file=sys.stderr)
                return 2
        diff, low, high, p = compare(values[args.a], values[args.b], args.resamples)
        a, b = values[args.a], values[args.b]
        print(f"{name}: {rec.metric} over {len(a)} and {len(b)} graphs")
        print(f"  {args.a} {a.mean():.4f} ± {stats.sem(a):.4f}, {args.b} {b.mean():.4f} ± {stats.sem(b):.4f} "
              "(± one standard error)")
        print(f"  {args.a} - {args.b} {diff:+.4f}, 95% CI [{low:+.4f}, {high:+.4f}], permutation p {p:.4f}")
        if rec.metric == "mae":
            y = {s: np.asarray(preds[s]["y"], dtype=float).reshape(len(preds[s]["y"]), -1).mean(axis=1)
                 for s in (args.a, args.b)}
            rho = stats.spearmanr(np.concatenate(list(y.values())), np.concatenate([a, b])).statistic
            print(f"  mean label {y[args.a].mean():.3f}, {y[args.b].mean():.3f}; Spearman(label, absolute error) "
                  f"{rho:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
