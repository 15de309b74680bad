"""Harness overhead: the same model, data, epochs and device trained by gbench and by a minimal plain PyG loop.

Both sides build the model with the same factory (so the model's own cost is identical) and evaluate every epoch
(forward in eval mode, validation loss, accuracy on train/val/test). gbench's side is a whole job through
`gbench.jobs.run_job` (seeding, determinism settings, model build, loop, metrics through the metric registry, the
record); the plain side is the loop a user would write. Data loading is outside both timings (gbench keeps a loaded
task in memory). The ratio gbench / plain is what matters: goal <= 1.05.

Determinism is measured the way a user meets it: `gbench run` defaults to `strict` on CPU, so each case runs twice
by default, gbench strict against a plain loop that also calls `torch.use_deterministic_algorithms(True)`, and
gbench `off` against a plain loop with torch's defaults (`--deterministic strict|off|both`).

Cases: cora-gcn, cora-gat, sbm1m-gcn (node, full batch; the SBM with 10^6 nodes), ddi-gcn (link: the OGB ddi
example's step, i.e. encode the whole graph per batch of 65,536 positives, dense negative sampling, gradient
clipping, validation Hits@20 by ogb.Evaluator every 5 epochs) and molbace-gin (graph level: mini-batches of 32
molecules, OGB atom/bond encoders, validation ROC-AUC by ogb.Evaluator every epoch). The plain loops evaluate as
often as gbench does (the validation split at each evaluation, the test split once at the selected epoch).

    python benchmarks/harness_overhead.py --data-root ../shared/data [--cases cora-gcn,ddi-gcn] [--device cpu]
        [--deterministic both]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, ratio_line, write_json  # noqa: E402

from gbench.data import load_task_data  # noqa: E402
from gbench.data.staging import DataContext  # noqa: E402
from gbench.jobs import Job, RunOptions, run_job  # noqa: E402
from gbench.models.contract import build_model  # noqa: E402
from gbench.specs import load_model, load_task, parse_assignments, resolve_model  # noqa: E402
from gbench.train.node import model_inputs, node_task_info  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)


def plain_determinism(mode: str) -> None:
    """What a user's plain loop sets for `mode`: strict is torch's deterministic algorithms (and cuDNN's), off is
    torch's defaults. Set before every plain run, because gbench's job leaves its own settings in the process."""
    torch.use_deterministic_algorithms(mode == "strict")
    torch.backends.cudnn.deterministic = mode == "strict"
    torch.backends.cudnn.benchmark = False


def gbench_side(task, model_name: str, epochs: int, ctx: DataContext, device: str, mode: str):
    """The resolved model (exactly `epochs` epochs, no early stop) and gbench's side: one whole job under the
    determinism `mode` (strict or off)."""
    over = parse_assignments([f"train.epochs={epochs}", "train.patience=1000000000"])
    resolved = resolve_model(load_model(model_name, task.level), task, over)
    job = Job(task, resolved, seed=0)
    opts = RunOptions(device=device, deterministic=mode, data=ctx)

    def gbench_fn():
        record = run_job(job, opts)
        assert record.status == "ok", record.error
        assert record.epochs_run == epochs

    return resolved, gbench_fn


def node_case(task, model_name: str, epochs: int, ctx: DataContext, device: str, mode: str):
    """Returns (gbench_fn, plain_fn) training `epochs` epochs each, evaluating every epoch."""
    resolved, gbench_fn = gbench_side(task, model_name, epochs, ctx, device, mode)
    td = load_task_data(task, ctx)
    info = node_task_info(td, task)
    split = td.splits[0]
    dev = torch.device(device)

    def plain_fn():
        plain_determinism(mode)
        torch.manual_seed(0)
        model = build_model(resolved.implementation, info, resolved.hparams).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=resolved.optim.lr, weight_decay=resolved.optim.weight_decay)
        data = model_inputs(td, dev)
        y = td.data.y.to(dev)
        train, val, test = (s.to(dev) for s in (split.train, split.val, split.test))
        best_val, test_at_best = -1.0, 0.0
        for _ in range(epochs):
            model.train()
            opt.zero_grad()
            loss = F.cross_entropy(model(data)[train], y[train])
            loss.backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                out = model(data)
                val_loss = float(F.cross_entropy(out[val], y[val]))  # noqa: F841 - what gbench also computes
                pred = out.argmax(1)
                accs = [float((pred[i] == y[i]).float().mean()) for i in (train, val, test)]
            if accs[1] > best_val:
                best_val, test_at_best = accs[1], accs[2]
        return test_at_best

    return gbench_fn, plain_fn


def link_case(task, model_name: str, epochs: int, ctx: DataContext, device: str, mode: str):
    """gbench's link runner against the loop of OGB's examples/linkproppred/ddi/gnn.py, same model factory."""
    from torch_geometric.utils import negative_sampling

    from gbench.metrics import get_metric
    from gbench.train.link import link_task_info
    from gbench.train.link import model_inputs as link_inputs

    resolved, gbench_fn = gbench_side(task, model_name, epochs, ctx, device, mode)
    td = load_task_data(task, ctx)
    info = link_task_info(td, task)
    dev = torch.device(device)
    hits = get_metric(task.metric)
    batch = task.protocol.batch_size
    every = task.protocol.eval_every

    def plain_fn():
        plain_determinism(mode)
        torch.manual_seed(0)
        model = build_model(resolved.implementation, info, resolved.hparams).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=resolved.optim.lr)
        data = link_inputs(td, "train", dev)
        train_pos = td.train_pos.to(dev)
        val_pos, val_neg = td.pos["val"].to(dev), td.neg["val"].to(dev)
        best = -1.0
        for epoch in range(1, epochs + 1):
            model.train()
            for perm in torch.randperm(train_pos.size(1)).split(batch):
                opt.zero_grad()
                z = model.encode(data)
                pos = train_pos[:, perm.to(dev)]
                neg = negative_sampling(data.edge_index, num_nodes=td.num_nodes, num_neg_samples=pos.size(1),
                                        method="dense")
                p_out, n_out = model.score(z, pos, data), model.score(z, neg, data)
                loss = (F.binary_cross_entropy_with_logits(p_out, torch.ones_like(p_out))
                        + F.binary_cross_entropy_with_logits(n_out, torch.zeros_like(n_out)))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            if epoch % every == 0 or epoch == epochs:
                model.eval()
                with torch.no_grad():
                    z = model.encode(data)
                    val = hits.ranking(model.score(z, val_pos, data).cpu().numpy(),
                                       model.score(z, val_neg, data).cpu().numpy())
                best = max(best, val)
        return best

    return gbench_fn, plain_fn


def graph_case(task, model_name: str, epochs: int, ctx: DataContext, device: str, mode: str):
    """gbench's graph runner against a minimal PyG DataLoader loop (OGB's mol example, evaluating validation only)."""
    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader

    from gbench.metrics import get_metric
    from gbench.train.graph import graph_task_info

    resolved, gbench_fn = gbench_side(task, model_name, epochs, ctx, device, mode)
    td = load_task_data(task, ctx)
    num_features = 0 if td.graphs[0].x is None else int(td.graphs[0].x.size(1))
    info = graph_task_info(td, task, {}, num_features)
    dev = torch.device(device)
    metric = get_metric(task.metric)
    split = td.splits[0]
    bs = resolved.train.batch_size or task.protocol.batch_size
    graphs = [Data(x=g.x, edge_index=g.edge_index, edge_attr=g.edge_attr, y=td.y[i].view(1, -1))
              for i, g in enumerate(td.graphs)]
    train = [graphs[i] for i in split["train"].tolist()]
    val = [graphs[i] for i in split["val"].tolist()]

    def plain_fn():
        plain_determinism(mode)
        torch.manual_seed(0)
        model = build_model(resolved.implementation, info, resolved.hparams).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=resolved.optim.lr)
        loader = DataLoader(train, batch_size=bs, shuffle=True)
        val_loader = DataLoader(val, batch_size=bs)
        best = -1.0
        for _ in range(epochs):
            model.train()
            for b in loader:
                b = b.to(dev)
                opt.zero_grad()
                out, y = model(b), b.y.float()
                labelled = y == y
                F.binary_cross_entropy_with_logits(out[labelled], y[labelled]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                outs, ys = zip(*[(model(b.to(dev)).cpu(), b.y) for b in val_loader])
            best = max(best, metric(torch.cat(ys).numpy(), torch.cat(outs).numpy()))
        return best

    return gbench_fn, plain_fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--cases", default="cora-gcn,cora-gat,sbm1m-gcn,ddi-gcn,molbace-gin")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--link-epochs", type=int, default=5, help="epochs of the ddi-gcn case (one evaluation)")
    parser.add_argument("--deterministic", default="both", choices=["strict", "off", "both"],
                        help="strict: both sides deterministic (gbench run's CPU default); off: neither; both: each")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    ctx = DataContext.from_env(args.data_root, None, offline=True)
    cases = {
        "cora-gcn": lambda mode: node_case(load_task("cora"), "gcn", 200, ctx, args.device, mode),
        "cora-gat": lambda mode: node_case(load_task("cora"), "gat", 100, ctx, args.device, mode),
        "sbm1m-gcn": lambda mode: node_case(
            load_task("sbm-node").model_copy(update={"dataset": load_task("sbm-node").dataset.model_copy(
                update={"params": {**load_task("sbm-node").dataset.params, "num_nodes": 1_000_000,
                                   "avg_degree": 10.0}})}), "gcn", 10, ctx, args.device, mode),
        "ddi-gcn": lambda mode: link_case(load_task("ogbl-ddi"), "gcn", args.link_epochs, ctx, args.device, mode),
        "molbace-gin": lambda mode: graph_case(load_task("ogbg-molbace"), "gin", 5, ctx, args.device, mode),
    }
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    modes = ["strict", "off"] if args.deterministic == "both" else [args.deterministic]
    rows = []
    for name in args.cases.split(","):
        for mode in modes:
            gb, plain = cases[name](mode)
            times = interleaved({"plain": plain, "gbench": gb}, repeats=args.repeats, sync=sync)
            rows.append({**ratio_line(name, times, "plain", "gbench"), "deterministic": mode})
            print(rows[-1], flush=True)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
