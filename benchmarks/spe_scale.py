"""SPE's encoding grows with the graph, and what batch norm's running statistics make of it.

Three measurements on a paper-sized structural task (`structure-symmetry` by default), one torch thread (on a
regression task, `--task structure-spectral-gap`, the inputs without their split by class, and measurement 1):

0. Inputs. Per split, over every graph: node count, the 2nd and 16th smallest eigenvalue of the normalized
   Laplacian, and the mean |entry| of the 16 eigenvectors V and of V V^T. Unit eigenvectors' entries shrink as
   1/sqrt(n) and V V^T's as 1/n, so every encoder's input moves out of its training range on larger graphs;
   SPE's V diag(psi(lambda)) V^T most (`pe_args.scale: n` multiplies it by n: a what-if, not SPE as published).
   Then per split and class, how often the 17 smallest eigenvalues hold a repeated one, one at the cut (the 16th
   equal to the 17th, where V V^T depends on the eigensolver's basis), and how small each graph's smallest gap is:
   on `structure-symmetry` repeated eigenvalues mark the symmetric class, and larger graphs' denser spectra bring
   the asymmetric ones' eigenvalues closer together.
1. Scale. For each split, the mean over nodes of |encoding| (the encoder's output before the model's projection,
   at its default settings, freshly initialised with seed 0) and the mean node count. SPE sums its network's output
   over a graph's n anchors (Huang et al., Eq. 2, as in their code), so its encoding grows about linearly with n;
   SignNet's (an MLP over per-eigenvector outputs) does not.
2. Train- against eval-mode. A shipped model spec (GPS+SPE, GPS+SignNet, GCN+SPE by default) trains `--steps`
   Adam steps with the task's batch size and learning rate (80 steps: five epochs of the 2000 training graphs;
   after one epoch every model still predicts one class in eval mode), then
   scores the validation split twice with the same weights: in eval mode (batch norm uses its running statistics,
   as every evaluation does) and in train mode without dropout (each batch's own statistics). A large gap means the
   running statistics do not describe the inputs the model learned on. `--spe-pool mean` divides every SPE
   encoding by its graph's node count (`pe_args.pool: mean`, the mean over the anchors instead of the sum): not SPE
   as published, a what-if for the size hypothesis, at the same initialisation.

    python benchmarks/spe_scale.py [--task structure-symmetry] [--models gps-spe,gps-signnet,gcn-spe]
        [--steps 80] [--spe-pool sum|mean] [--data-root ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import eigenvalue_multiplicity, environment, predicted_classes, write_json  # noqa: E402

SPLITS = ("train", "val", "test_id", "test_near_ood", "test_far_ood")


def spectral_inputs(graphs, splits, k: int = 16) -> list[dict]:
    """Per split, over every graph: the mean node count, the mean of the 2nd and the k-th smallest eigenvalue, the
    mean |entry| of the k eigenvectors and of V V^T (what SPE's psi and rho read; LapPE and SignNet read V)."""
    import numpy as np

    rows = []
    for name in SPLITS:
        n, lam2, lamk, vec, gram = [], [], [], [], []
        for i in splits[name].tolist():
            g = graphs[i]
            m = min(k, g.num_nodes)
            lam = g.eig_vals.view(-1)[:m]
            v = g.eig_vecs[:, :m]
            n.append(g.num_nodes)
            lam2.append(lam[1].item())
            lamk.append(lam[-1].item())
            vec.append(v.abs().mean().item())
            gram.append((v @ v.T).abs().mean().item())
        rows.append({"measure": "inputs", "split": name, "graphs": len(n), "nodes_mean": round(np.mean(n), 1),
                     "lambda_2": round(np.mean(lam2), 4), f"lambda_{k}": round(np.mean(lamk), 4),
                     "eigvec_abs_mean": round(np.mean(vec), 4), "gram_abs_mean": round(np.mean(gram), 4)})
    return rows


def multiplicity_by_class(graphs, y, splits, k: int = 16, tol: float = 1e-6) -> list[dict]:
    """Per split and class: the share of graphs with a repeated eigenvalue among the k+1 smallest of the normalized
    Laplacian (gap under `tol`), the share with one at the cut (the k-th equal to the (k+1)-th, so that V V^T itself
    depends on the eigensolver's basis), and the median and the share under 0.01 of each graph's smallest gap
    between consecutive eigenvalues among the k+1 smallest (near-repeated eigenvalues)."""
    import numpy as np

    rows = []
    for name in SPLITS:
        idx = splits[name].tolist()
        per_class: dict[int, list] = {}
        for i in idx:
            per_class.setdefault(int(y[i]), []).append(
                eigenvalue_multiplicity(graphs[i].edge_index, graphs[i].num_nodes, k, tol))
        for c, vals in sorted(per_class.items()):
            rep, cut, smallest = (np.array(v, dtype=float) for v in zip(*vals))
            rows.append({"measure": "multiplicity", "split": name, "class": c, "graphs": len(vals),
                         "repeated_share": round(rep.mean(), 3), "at_cut_share": round(cut.mean(), 3),
                         "smallest_gap_median": round(float(np.median(smallest)), 4),
                         "smallest_gap_under_0.01_share": round((smallest < 0.01).mean(), 3)})
    return rows


def encoding_scale(graphs, splits, batch_size: int) -> list[dict]:
    from torch_geometric.data import Batch

    from gbench.models.pe import SETTINGS, SignNetEncoder, SPEEncoder

    rows = []
    for pe, cls in (("signnet", SignNetEncoder), ("spe", SPEEncoder)):
        torch.manual_seed(0)
        kwargs = {k: d for k, (d, _) in SETTINGS[pe].items()}
        enc = (cls(16, **kwargs) if pe == "signnet" else cls(**kwargs)).eval()
        for name in SPLITS:
            idx = splits[name][:batch_size].tolist()
            batch = Batch.from_data_list([graphs[i] for i in idx])
            with torch.no_grad():
                out = enc(batch)
            rows.append({"measure": "scale", "encoder": pe, "split": name, "graphs": len(idx),
                         "nodes_mean": round(batch.num_nodes / len(idx), 1),
                         "encoding_abs_mean": round(out.abs().mean().item(), 3)})
    return rows


def train_vs_eval(task, name: str, steps: int, ctx, spe_pool: str = "sum") -> dict:
    from gbench import specs
    from gbench.models.contract import build_model
    from gbench.train.base import train_settings
    from gbench.train.graph import GraphBatcher, graph_inputs

    spec = specs.resolve_model(specs.load_model(name, "graph"), task)
    td, graphs, info = graph_inputs(task, spec, ctx)
    torch.manual_seed(0)
    hparams = dict(spec.hparams)
    if spe_pool == "mean" and hparams.get("pe") == "spe":  # pe_args.pool adds no parameter: the same initialisation
        hparams["pe_args"] = {**(hparams.get("pe_args") or {}), "pool": "mean"}
    model = build_model(spec.implementation, info, hparams)
    opt = torch.optim.Adam(model.parameters(), lr=spec.optim.lr)
    criterion = torch.nn.CrossEntropyLoss()
    batcher = GraphBatcher(graphs, td.y, torch.device("cpu"))
    batch_size = train_settings(task, spec).batch_size
    generator = torch.Generator().manual_seed(0)
    done = 0
    while done < steps:
        for batch, y in batcher.batches(td.splits[0]["train"], batch_size, generator):
            model.train()
            loss = criterion(model(batch), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    accuracy = {}
    val = td.splits[0]["val"]
    ys = td.y.view(-1)[val]
    for mode in ("eval", "batch statistics"):
        pred = predicted_classes(model, batcher, val, batch_size, batch_statistics=mode != "eval")
        accuracy[mode] = round((pred == ys).float().mean().item(), 4)
        accuracy[f"{mode} majority share"] = round(torch.bincount(pred).max().item() / pred.numel(), 4)
    return {"measure": "train_vs_eval", "model": name, "spe_pool": spe_pool, "steps": steps,
            "last_train_loss": round(loss.item(), 4), "val_accuracy_eval": accuracy["eval"],
            "val_accuracy_batch_stats": accuracy["batch statistics"],
            "eval_majority_share": accuracy["eval majority share"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="structure-symmetry")
    ap.add_argument("--models", default="gps-spe,gps-signnet,gcn-spe")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--spe-pool", choices=["sum", "mean"], default="sum",
                    help="mean: divide SPE's encoding by the graph's size (a what-if, not SPE as published)")
    ap.add_argument("--batch", type=int, default=128, help="graphs per split for the scale measurement")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from gbench import specs
    from gbench.data.staging import DataContext
    from gbench.train.graph import graph_inputs

    task = specs.load_task(args.task)
    ctx = DataContext.from_env(args.data_root, offline=True)
    td, graphs, _ = graph_inputs(task, specs.resolve_model(specs.load_model("gcn-spe", "graph"), task), ctx)
    inputs = spectral_inputs(graphs, td.splits[0])
    for r in inputs:
        print(f"{r['split']:<14} nodes {r['nodes_mean']:6.1f}  lambda_2 {r['lambda_2']:.4f}  lambda_16 "
              f"{r['lambda_16']:.4f}  mean |v| {r['eigvec_abs_mean']:.4f}  mean |V V^T| {r['gram_abs_mean']:.4f}",
              file=sys.stderr)
    # A regression task (structure-spectral-gap, -bridges) has no classes to split the spectra by, and measurement 2
    # reads class predictions: both are for classification tasks; the inputs and the scale are measured on any.
    classification = not td.y.is_floating_point()
    if not classification:
        print(f"{args.task} is a regression task: the spectra by class and measurement 2 (train- against eval-mode "
              "accuracy) are skipped.", file=sys.stderr)
    multiplicity = multiplicity_by_class(graphs, td.y.view(-1), td.splits[0]) if classification else []
    for r in multiplicity:
        print(f"{r['split']:<14} class {r['class']}: repeated eigenvalue {r['repeated_share']:.2f}, at the cut "
              f"{r['at_cut_share']:.2f}, smallest gap median {r['smallest_gap_median']:.4f}, under 0.01 "
              f"{r['smallest_gap_under_0.01_share']:.2f}", file=sys.stderr)
    scale = encoding_scale(graphs, td.splits[0], args.batch)
    rows = inputs + multiplicity + scale
    for r in scale:
        print(f"{r['encoder']:<8} {r['split']:<14} nodes {r['nodes_mean']:6.1f}  mean |encoding| "
              f"{r['encoding_abs_mean']:8.3f}", file=sys.stderr)
    for name in args.models.split(",") if classification else []:
        r = train_vs_eval(task, name, args.steps, ctx, args.spe_pool)
        rows.append(r)
        print(f"{name:<12} (SPE pool {r['spe_pool']}) after {r['steps']} steps (loss {r['last_train_loss']:.3f}): "
              f"val accuracy {r['val_accuracy_eval']:.3f} in eval mode (one class for {r['eval_majority_share']:.0%} "
              f"of graphs), {r['val_accuracy_batch_stats']:.3f} with each batch's statistics", file=sys.stderr)
    print(environment(), file=sys.stderr)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
