"""Inside a trained GPS regressor: how its local update and its attention grow from the training graphs to the larger
test graphs, split by split, with GIN's neighbour sum (`local: gin`, the shipped GPS) or its mean (`local: gin-mean`).

Section 23 of benchmarks/README.md found that GPS's far-OOD excess on spectral gap falls away when the GIN local layer
averages its neighbours instead of summing them, and named the sum's growth with the degree as the mechanism the swap
points to without measuring it. This measures it. It trains one job exactly as `gbench run` does (through
`structure_errors.train_once`: same seed, determinism, loop, one torch thread), keeps the model at the epoch
validation selected, checks its scores against the committed record when `--record` names one, and then, in eval
mode, reads for every split and GPS layer the mean over graphs of each graph's mean node L2 norm of:

- `gin_in`: what GIN's MLP receives, (1 + eps) x_i + the sum (or mean) of the neighbours' x_j;
- `local`: the local layer's output, before GPSConv's dropout, residual and batch norm;
- `attn`: the attention's output on the graph's own nodes;

each also as a ratio to its value on the training split, beside the split's mean degree, MAE (the record's metric)
and mean signed error (prediction minus target: which way the far-OOD error goes). A regression task (one output per
graph) and a GPS model (gbench's `gps`) are needed; others are refused before training.

    OPENBLAS_CORETYPE=Haswell python benchmarks/gps_local_growth.py --model gps-lappe --seed 0 \
        --record leaderboards/runs/structure-paper-regression-gps-lappe --data-root ../shared/data
    python benchmarks/gps_local_growth.py --model gps-lappe --seed 0 --set local=gin-mean \
        --record leaderboards/runs/structure-paper-regression-gps-gin-mean-local --data-root ../shared/data

Not in CI: each trains a paper-sized model (20 to 45 minutes on one CPU thread). A record made on another BLAS kernel
(benchmarks/README.md section 17) is reproduced only under that kernel (`OPENBLAS_CORETYPE`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, write_json  # noqa: E402
from structure_errors import say_whether_it_equals_the_record, train_once  # noqa: E402

SPLITS = ("train", "val", "test_id", "test_near_ood", "test_far_ood")
PARTS = ("gin_in", "local", "attn")


def layer_norms(model, batches) -> tuple[dict[tuple[int, str], torch.Tensor], torch.Tensor]:
    """Each graph's mean node L2 norm of GIN's MLP input (GIN local layers only), the local layer's output and the
    attention's output, per GPS layer, over `batches` (PyG batches, scored in eval mode without gradients), as
    {(layer, part): [graphs]}; and the model's outputs, concatenated."""
    from torch_geometric.utils import scatter, to_dense_batch

    current = {}  # the batch being scored, for the hooks
    per_graph: dict[tuple[int, str], list[torch.Tensor]] = {}

    def keep(layer: int, part: str, node_norms: torch.Tensor) -> None:
        b = current["batch"]
        per_graph.setdefault((layer, part), []).append(scatter(node_norms, b.batch, 0, dim_size=b.num_graphs,
                                                               reduce="mean"))

    def attn_hook(layer: int):
        def hook(_m, _a, out) -> None:  # dense [graphs, most nodes, hidden]: keep each graph's own nodes
            _, mask = to_dense_batch(current["batch"].batch, current["batch"].batch)
            keep(layer, "attn", out[0][mask].norm(dim=-1))
        return hook

    handles = []
    for i, conv in enumerate(model.convs):
        local = conv.conv
        if hasattr(local, "nn"):  # GIN: the MLP's input is (1 + eps) x + the neighbours' sum or mean
            handles.append(local.nn.register_forward_pre_hook(
                lambda _m, args, i=i: keep(i, "gin_in", args[0].norm(dim=-1))))
        handles.append(local.register_forward_hook(lambda _m, _a, out, i=i: keep(i, "local", out.norm(dim=-1))))
        handles.append(conv.attn.register_forward_hook(attn_hook(i)))
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for batch in batches:
                current["batch"] = batch
                outputs.append(model(batch))
    finally:
        for h in handles:
            h.remove()
    return {key: torch.cat(vals) for key, vals in per_graph.items()}, torch.cat(outputs)


def measure(job, model, opts) -> list[dict]:
    from torch_geometric.utils import degree, scatter

    from gbench.train.base import train_settings
    from gbench.train.graph import GraphBatcher, graph_inputs

    td, graphs, _ = graph_inputs(job.task, job.model, opts.data)
    batcher = GraphBatcher(graphs, td.y, torch.device("cpu"))
    batch_size = train_settings(job.task, job.model).batch_size
    rows = []
    for name in SPLITS:
        idx = td.splits[0][name]
        batches = [batch for batch, _ in batcher.batches(idx, batch_size)]
        norms, out = layer_norms(model, batches)
        degs = [scatter(degree(b.edge_index[0], b.num_nodes), b.batch, 0, dim_size=b.num_graphs, reduce="mean")
                for b in batches]
        pred, y = out.view(-1), td.y.view(-1)[idx].float()
        nodes = [graphs[i].num_nodes for i in idx.tolist()]
        row = {"split": name, "graphs": len(idx), "nodes_mean": round(sum(nodes) / len(nodes), 1),
               "degree_mean": round(torch.cat(degs).mean().item(), 2),
               "mae": round((pred - y).abs().mean().item(), 4),
               "signed_error": round((pred - y).mean().item(), 4)}
        for (layer, part), vals in sorted(norms.items()):
            row[f"L{layer}_{part}"] = round(vals.mean().item(), 3)
        rows.append(row)
    train = rows[0]
    for row in rows:
        for key in [k for k in row if k.startswith("L")]:
            row[key + "_ratio"] = round(row[key] / train[key], 2)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="structure-spectral-gap")
    ap.add_argument("--model", default="gps-lappe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], dest="sets", help="an override, as gbench run --set")
    ap.add_argument("--record", default=None, help="a results directory holding this job's record, to check")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from gbench.errors import GbenchError
    from gbench.sweep import single_job

    try:
        planned = single_job(args.task, args.model, args.seed, args.sets)
    except GbenchError as e:  # a misspelt task, model or --set: its one sentence, not a traceback
        raise SystemExit(str(e)) from None
    if planned.task.metric.name not in ("mae", "mse") or planned.model.implementation != "gbench.models.graph:gps":
        raise SystemExit(f"--task {args.task} / --model {args.model}: this reads a GPS model (gbench.models.graph:gps) "
                         "on a task scored by mae or mse, such as --task structure-spectral-gap --model gps-lappe.")
    job, record, model, opts = train_once(args.task, args.model, args.seed, args.sets, args.data_root)
    print(f"{job.task.id} / {job.model.name} / seed {job.seed} (job {job.job_id}): selected epoch "
          f"{record.selected_epoch} of {record.epochs_run}; {record.metrics}", file=sys.stderr)
    if args.record:
        say_whether_it_equals_the_record(args.record, job, record)
    rows = measure(job, model, opts)
    layers = sorted({int(k[1:].split("_")[0]) for k in rows[0] if k.startswith("L") and not k.endswith("_ratio")})
    parts = [p for p in PARTS if f"L0_{p}" in rows[0]]
    print(f"{'split':<14} {'nodes':>6} {'degree':>6} {'mae':>7} {'signed':>8}", file=sys.stderr)
    for r in rows:
        print(f"{r['split']:<14} {r['nodes_mean']:6.1f} {r['degree_mean']:6.2f} {r['mae']:7.4f} "
              f"{r['signed_error']:8.4f}", file=sys.stderr)
    for p in parts:
        print(f"\n{p}: mean node L2 norm per layer (ratio to the training split)", file=sys.stderr)
        for r in rows:
            print(f"{r['split']:<14} " + "  ".join(f"L{i} {r[f'L{i}_{p}']:8.2f} ({r[f'L{i}_{p}_ratio']:5.2f})"
                                                   for i in layers), file=sys.stderr)
    print(environment(), file=sys.stderr)
    write_json([{"job_id": job.job_id, "model": job.model.name, "seed": job.seed, "sets": args.sets,
                 "selected_epoch": record.selected_epoch, "metrics": record.metrics}] + rows, args.json)


if __name__ == "__main__":
    main()
