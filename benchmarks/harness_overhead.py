"""Harness overhead: the same model, data, epochs and device trained by gbench and by a minimal plain PyG loop.

Both sides build the model with the same factory (so the model's own cost is identical) and evaluate every epoch
(forward in eval mode, validation loss, accuracy on train/val/test). gbench's side is a whole job through
`gbench.jobs.run_job` (seeding, determinism settings, model build, loop, metrics through scikit-learn, the record);
the plain side is the loop a user would write. Data loading is outside both timings (gbench keeps a loaded task in
memory). The ratio gbench / plain is what matters: goal <= 1.05.

    python benchmarks/harness_overhead.py --data-root ../shared/data [--cases cora-gcn,sbm1m-gcn] [--device cpu]
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


def node_case(task, model_name: str, epochs: int, ctx: DataContext, device: str):
    """Returns (gbench_fn, plain_fn) training `epochs` epochs each, evaluating every epoch."""
    over = parse_assignments([f"train.epochs={epochs}", "train.patience=1000000000"])
    resolved = resolve_model(load_model(model_name, "node"), task, over)
    opts = RunOptions(device=device, deterministic="off", data=ctx)
    job = Job(task, resolved, seed=0)
    td = load_task_data(task, ctx)
    info = node_task_info(td, task)
    split = td.splits[0]
    dev = torch.device(device)

    def gbench_fn():
        record = run_job(job, opts)
        assert record.status == "ok", record.error
        assert record.epochs_run == epochs

    def plain_fn():
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--cases", default="cora-gcn,cora-gat,sbm1m-gcn")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    ctx = DataContext.from_env(args.data_root, None, offline=True)
    cases = {
        "cora-gcn": lambda: node_case(load_task("cora"), "gcn", 200, ctx, args.device),
        "cora-gat": lambda: node_case(load_task("cora"), "gat", 100, ctx, args.device),
        "sbm1m-gcn": lambda: node_case(
            load_task("sbm-node").model_copy(update={"dataset": load_task("sbm-node").dataset.model_copy(
                update={"params": {**load_task("sbm-node").dataset.params, "num_nodes": 1_000_000,
                                   "avg_degree": 10.0}})}), "gcn", 10, ctx, args.device),
    }
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    rows = []
    for name in args.cases.split(","):
        gb, plain = cases[name]()
        times = interleaved({"plain": plain, "gbench": gb}, repeats=args.repeats, sync=sync)
        rows.append(ratio_line(name, times, "plain", "gbench"))
        print(rows[-1], flush=True)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
