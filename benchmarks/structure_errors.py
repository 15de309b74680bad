"""Where a trained graph classifier's errors fall, split by split: per class, by spectral multiplicity, and with
batch norm's running statistics against each batch's own.

Trains one job exactly as `gbench run` does (`gbench.jobs.run_job`: the same seed, determinism and training loop,
one torch thread), keeps the model at the epoch validation selected, and checks that its scores equal the job's
committed record when `--record DIR` names the results directory that holds it. Then, for every split:

- accuracy as the record gives it (eval mode: batch norm's running statistics);
- accuracy with each batch's own batch-norm statistics (dropout still off): far under eval mode means the running
  statistics, gathered on training graphs, do not describe the split's graphs;
- recall of each class;
- recall of each class on the graphs whose smallest gap between consecutive eigenvalues (among the k+1 smallest)
  is under the class's median in that split, and on the others: whether near-repeated eigenvalues decide the error;
- accuracy on the graphs whose normalized Laplacian has a repeated eigenvalue among its k+1 smallest (k = 16, the
  eigenpairs the spectral encoders read) and on the others. A repeated eigenvalue inside the k makes the
  eigenvectors a basis choice; one at the cut (the k-th equal to the (k+1)-th) makes V V^T itself depend on that
  choice, which SPE's stability result assumes away. On `structure-symmetry` most symmetric graphs have one and
  almost no asymmetric graph does, at every scale.

    python benchmarks/structure_errors.py --model gcn-spe --seed 2 --set train.epochs=100 \
        --record leaderboards/runs/structure-paper-symmetry-pe [--task structure-symmetry] [--data-root ...]

Not in CI: it trains a paper-sized model (minutes to an hour on one CPU thread).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import eigenvalue_multiplicity, environment, predicted_classes, write_json  # noqa: E402

SPLITS = ("val", "test_id", "test_near_ood", "test_far_ood")


def train_once(task_ref: str, model_ref: str, seed: int, sets: list[str], data_root: str | None):
    """Run the job as `gbench run` would and return (job, record, the model at the selected epoch)."""
    import gbench.train.graph as graph_train
    from gbench.jobs import run_job
    from gbench.sweep import run_options, single_job

    job = single_job(task_ref, model_ref, seed, sets)
    opts = run_options(device="cpu", threads=1, data_root=data_root, offline=True)
    built = []
    original = graph_train.build_model

    def capture(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append(model)
        return model

    graph_train.build_model = capture
    try:
        record = run_job(job, opts)
    finally:
        graph_train.build_model = original
    if record.status != "ok":
        raise SystemExit(f"the job failed: {record.error}")
    return job, record, built[-1], opts


def committed_record(results: Path, job) -> dict | None:
    for path in (results / "records" / job.task.id / job.model.name).glob(f"s{job.seed:04d}-{job.job_id}*.json"):
        return json.loads(path.read_text())
    return None


def say_whether_it_equals_the_record(results: str, job, record) -> None:
    """Print (stderr) whether a retrained job's metrics and selected epoch equal its committed record's in `results`."""
    theirs = committed_record(Path(results), job)
    if theirs is None:
        print(f"no record of job {job.job_id} in {results}", file=sys.stderr)
        return
    from gbench.repro import environment_differences

    same = theirs["metrics"] == record.metrics and theirs["selected_epoch"] == record.selected_epoch
    print(f"{'equals' if same else 'DIFFERS FROM'} the committed record in {results}"
          + ("" if same else f": {theirs['metrics']} at epoch {theirs['selected_epoch']}"), file=sys.stderr)
    apart = environment_differences(theirs.get("environment") or {}, record.environment or {})
    if not same and apart:
        print("the two ran in different environments (" + "; ".join(apart) + "): a CPU record need not be "
              "bitwise equal on another CPU type or kernel (README, 'Across machines')", file=sys.stderr)


def analyse(job, model, opts, k: int) -> list[dict]:
    from gbench.train.base import train_settings
    from gbench.train.graph import GraphBatcher, graph_inputs

    td, graphs, _ = graph_inputs(job.task, job.model, opts.data)
    batch_size = train_settings(job.task, job.model).batch_size
    batcher = GraphBatcher(graphs, td.y, torch.device("cpu"))
    state = {name: t.clone() for name, t in model.state_dict().items()}
    y_all = td.y.view(-1)
    rows = []
    for name in SPLITS:
        idx = td.splits[0][name]
        y = y_all[idx]
        pred = predicted_classes(model, batcher, idx, batch_size, batch_statistics=False)
        pred_bs = predicted_classes(model, batcher, idx, batch_size, batch_statistics=True)
        model.load_state_dict(state)  # batch statistics mode moved the running statistics: put them back
        spectral = [eigenvalue_multiplicity(graphs[i].edge_index, graphs[i].num_nodes, k) for i in idx.tolist()]
        repeated = torch.tensor([r for r, _, _ in spectral])
        at_cut = torch.tensor([c for _, c, _ in spectral])
        smallest_gap = torch.tensor([g for _, _, g in spectral])
        right = pred == y
        row = {"split": name, "graphs": len(idx), "nodes_mean": round(float(np.mean(
                   [graphs[i].num_nodes for i in idx.tolist()])), 1),
               "accuracy": round(right.float().mean().item(), 4),
               "accuracy_batch_statistics": round((pred_bs == y).float().mean().item(), 4)}
        for c in sorted(set(y.tolist())):
            row[f"recall_class_{c}"] = round(right[y == c].float().mean().item(), 4)
            row[f"repeated_share_class_{c}"] = round(repeated[y == c].float().mean().item(), 4)
        for label, mask in (("repeated", repeated), ("at_cut", at_cut), ("simple", ~repeated)):
            row[f"graphs_{label}"] = int(mask.sum())
            row[f"accuracy_{label}"] = round(right[mask].float().mean().item(), 4) if mask.any() else None
        for c in sorted(set(y.tolist())):  # within a class: does multiplicity decide the error?
            for label, mask in (("repeated", repeated), ("simple", ~repeated)):
                m = mask & (y == c)
                row[f"recall_class_{c}_{label}"] = round(right[m].float().mean().item(), 4) if m.any() else None
            # Within a class and split, graphs with near-repeated eigenvalues (smallest gap under the class's median
            # there) against the rest: does crowding of the spectrum decide the error?
            gap_c = smallest_gap[y == c]
            median = gap_c.median()
            for label, mask in (("gap_low", smallest_gap < median), ("gap_high", smallest_gap >= median)):
                m = mask & (y == c)
                row[f"recall_class_{c}_{label}"] = round(right[m].float().mean().item(), 4) if m.any() else None
            row[f"smallest_gap_median_class_{c}"] = round(median.item(), 5)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="structure-symmetry")
    ap.add_argument("--model", default="gcn-spe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], dest="sets", help="an override, as gbench run --set")
    ap.add_argument("--record", default=None, help="a results directory holding this job's record, to check")
    ap.add_argument("--k", type=int, default=16, help="eigenpairs the encoders read (the multiplicity columns)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    job, record, model, opts = train_once(args.task, args.model, args.seed, args.sets, args.data_root)
    ours = {s: v for s, v in record.metrics.items()}
    print(f"{job.task.id} / {job.model.name} / seed {job.seed} (job {job.job_id}): selected epoch "
          f"{record.selected_epoch} of {record.epochs_run}", file=sys.stderr)
    if args.record:
        say_whether_it_equals_the_record(args.record, job, record)
    rows = analyse(job, model, opts, args.k)
    classes = sorted(int(c[len("recall_class_"):]) for c in rows[0] if c.startswith("recall_class_")
                     and c[len("recall_class_"):].isdigit())
    head = (f"{'split':<14} {'nodes':>5} {'acc':>6} {'acc bs':>6} "
            + " ".join(f"{'rec ' + str(c):>6}" for c in classes)
            + f" {'rep':>4} {'acc rep':>7} {'acc simple':>10} "
            + " ".join(f"{f'r{c} rep/simple':>15}" for c in classes))
    print(head, file=sys.stderr)
    fmt = lambda v: "   -  " if v is None else f"{v:6.3f}"  # noqa: E731
    for r in rows:
        print(f"{r['split']:<14} {r['nodes_mean']:5.1f} {r['accuracy']:6.3f} {r['accuracy_batch_statistics']:6.3f} "
              + " ".join(fmt(r[f"recall_class_{c}"]) for c in classes)
              + f" {r['graphs_repeated']:4d} {fmt(r['accuracy_repeated']):>7} {fmt(r['accuracy_simple']):>10} "
              + " ".join(f"{fmt(r[f'recall_class_{c}_repeated'])}/{fmt(r[f'recall_class_{c}_simple'])}".rjust(15)
                         for c in classes), file=sys.stderr)
    print("recall per class, graphs whose smallest eigenvalue gap is under / at least the class's median in the "
          "split:", file=sys.stderr)
    for r in rows:
        print(f"{r['split']:<14} " + "  ".join(
            f"class {c} (median gap {r[f'smallest_gap_median_class_{c}']:.4f}): "
            f"{fmt(r[f'recall_class_{c}_gap_low'])} / {fmt(r[f'recall_class_{c}_gap_high'])}" for c in classes),
            file=sys.stderr)
    print(environment(), file=sys.stderr)
    write_json([{"job_id": job.job_id, "model": job.model.name, "seed": job.seed,
                 "selected_epoch": record.selected_epoch, "metrics": ours}] + rows, args.json)


if __name__ == "__main__":
    main()
