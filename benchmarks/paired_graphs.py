"""Two models on the same test graphs: a paired, per-graph comparison from records that kept their outputs
(`--set train.keep_predictions=true`, graph tasks).

    python benchmarks/paired_graphs.py RESULTS_A [RESULTS_B] --a MODEL --b MODEL [--split test_far_ood]
        [--task structure-bridges] [--by size|label [--task-file PATH]] [--resamples 9999]

For each task both models ran with kept outputs, and each split both kept (every test split unless `--split`): per
seed the two records share (or A's seed s against B's s + `--offset`), each model's metric over the split's graphs (recomputed from the kept outputs and
checked against the record's), the per-graph difference B - A, a 95 % percentile-bootstrap interval for its mean
(scipy.stats.bootstrap, graphs resampled in pairs) and a two-sided paired permutation p-value
(scipy.stats.permutation_test, the two models' values swapped within a graph), and how many graphs B does better
on, worse on, and ties. Then the same with each graph's value averaged over every seed each model has.

`--by size` (or `--by label`) breaks that last comparison (the seed means; each pair of seeds when one model is
compared with itself) down by the graphs' node count (or label): quartile bins within the split (one bin per class
for a classification label), each with its graphs, both means, B - A, the paired permutation p and that p Holm-
adjusted over the split's bins (gbench.comparison.holm), the better / worse counts (+/-), and the bin's mean
label: where a difference falls.
Node counts come from the task's data, loaded as `gbench run` loads it (the catalog task of the records' name, or
`--task-file` for a task YAML of one's own), and checked against the records' data digest (their cache key where
they have no digest).

What it can and cannot say: the pairing removes the graphs' own difficulty, so it sees differences that a
comparison of seed means (`gbench compare`) cannot; but it conditions on one trained model per seed (and on this one
draw of test graphs), so a small p says "these trained models differ on these graphs", not "the method is better".
The claim about methods is `gbench compare`'s, across seeds; this script says where and how consistently the
difference falls (benchmarks/README.md section 20). Only metrics that are a mean over graphs (`mae`, `accuracy`).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from split_errors import PER_GRAPH, _mean_difference, per_graph  # noqa: E402

from gbench.comparison import holm  # noqa: E402
from gbench.metrics import metric_direction  # noqa: E402
from gbench.results import ResultStore, read_record  # noqa: E402

TEST_SPLITS = ("test_id", "test_near_ood", "test_far_ood", "test")


def paired(a: np.ndarray, b: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float, float, float]:
    """(mean of B - A, bootstrap low, bootstrap high, paired permutation p) over graphs paired by position."""
    d = b - a
    rng = np.random.default_rng(seed)
    if np.all(d == d[0]):  # identical per-graph values, or one constant shift: every resample gives it
        low = high = float(d[0])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "degenerate distribution" when almost every pair ties
            ci = stats.bootstrap((b, a), _mean_difference, paired=True, vectorized=True, n_resamples=resamples,
                                 method="percentile", rng=rng).confidence_interval
        low, high = float(ci.low), float(ci.high)
    perm = stats.permutation_test((b, a), _mean_difference, permutation_type="samples", vectorized=True,
                                  n_resamples=resamples, alternative="two-sided", rng=rng)
    return float(d.mean()), low, high, float(perm.pvalue)


def kept_records(results: Path) -> dict[str, dict[str, dict[int, object]]]:
    """{model: {task: {seed: record}}} for the ok records that kept per-graph outputs."""
    out: dict[str, dict[str, dict[int, object]]] = {}
    for path in ResultStore(results).record_paths():
        rec = read_record(path)
        if rec.status == "ok" and (rec.extra or {}).get("predictions"):
            seeds = out.setdefault(rec.model, {}).setdefault(rec.task, {})
            if rec.seed in seeds:  # the same model run twice with other settings (--set): which to pair is not ours
                raise ValueError(f"{results}: two kept records of {rec.task} / {rec.model} / seed {rec.seed} (jobs "
                                 f"{seeds[rec.seed].job_id} and {rec.job_id}, other settings); give each setting "
                                 "its own results directory.")
            seeds[rec.seed] = rec
    return out


def aligned(rec, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dataset indices, labels, per-graph values) of one record's split, sorted by index; the values' mean is
    checked against the record's metric."""
    kept = rec.extra["predictions"][split]
    order = np.argsort(np.asarray(kept["index"]))
    values = per_graph(rec.metric, kept)
    recorded = rec.metrics[split][rec.metric]
    if not np.isclose(values.mean(), recorded, rtol=1e-5, atol=1e-6):
        raise ValueError(f"{rec.task} / {rec.model} / seed {rec.seed}: the kept {split} outputs give "
                         f"{values.mean():.6f}, the record {recorded:.6f}; the record is inconsistent.")
    y = np.asarray(kept["y"], dtype=float).reshape(len(order), -1)
    return np.asarray(kept["index"])[order], y[order], values[order]


def better_worse(a: np.ndarray, b: np.ndarray, higher: bool) -> tuple[int, int]:
    """On how many graphs B is better than A, and on how many worse."""
    return (int(np.sum(b > a)), int(np.sum(b < a))) if higher else (int(np.sum(b < a)), int(np.sum(b > a)))


def report(label: str, a: np.ndarray, b: np.ndarray, higher: bool, resamples: int) -> None:
    diff, low, high, p = paired(a, b, resamples)
    better, worse = better_worse(a, b, higher)
    print(f"  {label}: A {a.mean():.4f}, B {b.mean():.4f}, B - A {diff:+.4f}")
    print(f"    95% CI [{low:+.4f}, {high:+.4f}], paired permutation p {p:.4f}")
    print(f"    B better on {better}, worse on {worse}, tied on {len(a) - better - worse} of {len(a)} graphs")


def graph_sizes(task_ref: str, rec, data_root: str | None) -> np.ndarray:
    """Node count of every graph of the records' task, from its data as `gbench run` loads it; refused when that
    data is not the data the record was scored on (its content hash, where the record has one)."""
    from gbench.data import load_task_data
    from gbench.errors import GbenchError
    from gbench.specs import load_task
    from gbench.sweep import run_options

    try:
        task = load_task(task_ref)
        td = load_task_data(task, run_options(device="cpu", data_root=data_root).data)
    except GbenchError as err:
        raise ValueError(f"--by: the task's data could not be loaded ({err}); give --task-file for a task YAML "
                         "of your own.") from err
    data = rec.extra.get("data") or {}
    # The data's digest where the record has one; older records carry only the cache key, which also changes with
    # the generator's code, so those are refused after a code change even when the graphs are the same.
    field = "data_digest" if "data_digest" in data else "content_hash"
    recorded = data.get(field)
    if task.id != rec.task or (recorded is not None and td.info.get(field) != recorded):
        raise ValueError(f"--by: {task_ref} gives task {task.id!r} ({field} {td.info.get(field)}), the records "
                         f"task {rec.task!r} ({field} {recorded}); give --task-file the records' task YAML.")
    return np.array([g.num_nodes for g in td.graphs])


def bins(values: np.ndarray, discrete: bool, name: str, fmt: str = "g") -> list[tuple[str, np.ndarray]]:
    """(label, mask) per bin: one per value when `discrete`, else quartile bins (ties kept in one bin)."""
    def g(v: float) -> str:
        return format(v, fmt)

    if discrete:
        return [(f"{name} {g(v)}", values == v) for v in np.unique(values)]
    edges = np.unique(np.quantile(values, [0, 0.25, 0.5, 0.75, 1.0]))
    if len(edges) == 1:
        return [(f"{name} {g(edges[0])}", np.ones(len(values), dtype=bool))]
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    out = []
    for b in range(len(edges) - 1):
        mask = which == b
        if mask.any():
            low, high = values[mask].min(), values[mask].max()
            out.append((f"{name} {g(low)}" if low == high else f"{name} {g(low)}-{g(high)}", mask))
    return out


def breakdown(groups: list[tuple[str, np.ndarray]], y: np.ndarray, a: np.ndarray, b: np.ndarray, higher: bool,
              resamples: int) -> None:
    """One line per bin: graphs, their mean label, both means, B - A, the paired permutation p, Holm over the
    bins, better/worse."""
    rows = []
    for label, mask in groups:
        diff, _, _, p = paired(a[mask], b[mask], resamples)
        rows.append((label, int(mask.sum()), y[mask].mean(), a[mask].mean(), b[mask].mean(), diff, p,
                     *better_worse(a[mask], b[mask], higher)))
    adjusted = holm([r[6] for r in rows])
    print(f"    {'':<14}{'graphs':>6}{'mean y':>7}{'A':>8}{'B':>8}{'B - A':>8}{'p':>7}{'Holm':>7}  +/-")
    for (label, n, my, ma, mb, diff, p, better, worse), q in zip(rows, adjusted):
        print(f"    {label:<14}{n:>6}{my:>7.3g}{ma:>8.4f}{mb:>8.4f}{diff:>+8.4f}{p:>7.4f}{q:>7.4f}  {better}/{worse}")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except ValueError as err:  # a record this script cannot pair: one sentence, exit 2
        print(err, file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="one results directory, or A's then B's")
    parser.add_argument("--a", required=True, help="the first model (A, the base)")
    parser.add_argument("--b", required=True, help="the second model (B, the candidate)")
    parser.add_argument("--split", help="only this split (default: every test split both kept)")
    parser.add_argument("--task", help="only this task")
    parser.add_argument("--offset", type=int, default=0,
                        help="pair A's seed s with B's seed s + OFFSET (with --a and --b the same model: what the "
                             "test finds between two trainings of one method)")
    parser.add_argument("--by", choices=("size", "label"),
                        help="break the seed-means comparison down by node count or label (quartile bins)")
    parser.add_argument("--task-file", help="with --by size: the task YAML the records ran (default: the catalog "
                                            "task of their name)")
    parser.add_argument("--data-root", help="with --by size: the data root (default: GBENCH_DATA)")
    parser.add_argument("--resamples", type=int, default=9999, help="bootstrap and permutation resamples")
    args = parser.parse_args(argv)
    if len(args.results) > 2:
        parser.error("give one results directory, or two (A's, then B's)")
    if args.by != "size" and (args.task_file or args.data_root):
        parser.error("--task-file and --data-root are read with --by size only")
    dir_a, dir_b = args.results[0], args.results[-1]
    for where in (dir_a, dir_b):
        if not where.is_dir():
            print(f"RESULTS: {where} is not a directory; give a gbench run's --out.", file=sys.stderr)
            return 2
    runs = {}
    for flag, where, model in (("--a", dir_a, args.a), ("--b", dir_b, args.b)):
        found = kept_records(where)
        if model not in found:
            others = f"; it has them for {', '.join(sorted(found))}" if found else ""
            print(f"{flag}: {where} holds no ok record of {model!r} with per-graph outputs{others} (run with "
                  "--set train.keep_predictions=true; k-fold records are not paired here).", file=sys.stderr)
            return 2
        runs[flag] = found[model]
    tasks = sorted(set(runs["--a"]) & set(runs["--b"]))
    if args.task is not None:
        tasks = [t for t in tasks if t == args.task]
    if not tasks:
        print(f"--task: no task has kept outputs of both models (A: {', '.join(sorted(runs['--a']))}; B: "
              f"{', '.join(sorted(runs['--b']))}).", file=sys.stderr)
        return 2
    for task in tasks:
        recs_a, recs_b = runs["--a"][task], runs["--b"][task]
        any_a, any_b = next(iter(recs_a.values())), next(iter(recs_b.values()))
        if any_a.metric != any_b.metric or any_a.metric not in PER_GRAPH:
            print(f"{task}: metrics {any_a.metric!r} and {any_b.metric!r}; this script takes one metric that is "
                  f"a mean over graphs ({' or '.join(PER_GRAPH)}).", file=sys.stderr)
            return 2
        metric = any_a.metric
        higher = metric_direction(metric)
        kept = set.intersection(*(set(r.extra["predictions"]) for r in [*recs_a.values(), *recs_b.values()]))
        splits = [s for s in TEST_SPLITS if s in kept] if args.split is None else [args.split]
        if args.split is not None and args.split not in kept:
            print(f"--split: not every record of {task} kept {args.split!r}; all kept "
                  f"{', '.join(sorted(kept))}.", file=sys.stderr)
            return 2
        pairs = [(s, s + args.offset) for s in sorted(recs_a) if s + args.offset in recs_b]
        if args.offset and not pairs:
            print(f"--offset: no seed s of A on {task} has a B seed s + {args.offset} (A: "
                  f"{', '.join(map(str, sorted(recs_a)))}; B: {', '.join(map(str, sorted(recs_b)))}).",
                  file=sys.stderr)
            return 2
        sizes = graph_sizes(args.task_file or task, any_a, args.data_root) if args.by == "size" else None
        print(f"{task}: {metric}, {'higher' if higher else 'lower'} is better")
        print(f"  A {args.a} ({dir_a.name}), seeds {', '.join(map(str, sorted(recs_a)))}")
        print(f"  B {args.b} ({dir_b.name}), seeds {', '.join(map(str, sorted(recs_b)))}")
        for split in splits:
            per_a = {s: aligned(r, split) for s, r in recs_a.items()}
            per_b = {s: aligned(r, split) for s, r in recs_b.items()}
            index, y = per_a[min(per_a)][:2]
            for seed, (idx, lab, _) in [*per_a.items(), *per_b.items()]:
                if not (np.array_equal(idx, index) and np.allclose(lab, y)):
                    print(f"{task} / {split}: the records' kept graphs differ (seed {seed}); a paired comparison "
                          "needs both models scored on the same graphs.", file=sys.stderr)
                    return 2
            print(f"{split}, {len(index)} graphs")
            groups = None
            if args.by == "size":
                groups = bins(sizes[index], discrete=False, name="nodes")
            elif args.by == "label":
                groups = bins(y.mean(axis=1), discrete=metric == "accuracy", name="y", fmt=".3g")
            itself = args.a == args.b and dir_a.resolve() == dir_b.resolve()
            for sa, sb in pairs:
                report(f"seed {sa}" if sa == sb else f"seeds {sa} and {sb}", per_a[sa][2], per_b[sb][2], higher,
                       args.resamples)
                if groups is not None and itself:
                    breakdown(groups, y.mean(axis=1), per_a[sa][2], per_b[sb][2], higher, args.resamples)
            if itself:
                continue  # one model's records against themselves: its seed means are one array
            mean_a = np.mean([v for _, _, v in per_a.values()], axis=0)
            mean_b = np.mean([v for _, _, v in per_b.values()], axis=0)
            report(f"seed means ({len(per_a)} A, {len(per_b)} B)", mean_a, mean_b, higher,
                   args.resamples)
            if groups is not None:
                breakdown(groups, y.mean(axis=1), mean_a, mean_b, higher, args.resamples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
