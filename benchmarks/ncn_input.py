"""NCN's input layer on bag-of-words features: sparse dropout and product (gbench) against dense (the plain way).

One NCN training step (encode the whole graph, score a batch of positive and as many random pairs, binary
cross-entropy, backward) on each named link task's real features and training graph, two ways with the same
model: "dense" is `xlin(F.dropout(x))` over the [N, F] feature matrix, as NCN's authors' code and gbench before
2026-12-03 do; "sparse" is `NCNModel.input_layer`: dropout on the non-zero features only (`InputDropout`) and,
under 5 % non-zero, the product as a sparse matrix. The two alternate (A B A B ...), median of `--repeats`. Both are dropout of the same
distribution, so only time is compared.

    python benchmarks/ncn_input.py [--tasks cora-link,citeseer-link,pubmed-link] [--data-root ../shared/data]
        [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, interleaved, write_json  # noqa: E402


def ncn_training_step(task_id: str, data_root: str | None):
    """The task's NCN (its spec's settings, seeded), and `step(prepare)`: a function that calls `prepare()` then runs
    one training step (encode the whole graph, score a batch of training positives and as many random pairs,
    binary cross-entropy, backward), for benchmarks that time one step two ways. Also the task, its data and batch."""
    from gbench.data import load_task_data
    from gbench.data.staging import DataContext
    from gbench.models.contract import TaskInfo
    from gbench.models.link import ncn
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model
    from gbench.train.link import model_inputs

    task = load_task(task_id)
    spec = resolve_model(load_model("ncn", "link"), task)
    td = load_task_data(task, DataContext.from_env(data_root, offline=True))
    info = TaskInfo(level="link", target="binary", num_features=td.x.size(1), out_dim=1, num_nodes=td.num_nodes)
    torch.manual_seed(0)
    model = ncn(info, **spec.hparams).train()
    data = model_inputs(td, "train", torch.device("cpu"))
    batch = int(task.protocol.batch_size or 384)
    pos = td.train_pos[:, torch.randperm(td.train_pos.size(1), generator=torch.Generator().manual_seed(0))[:batch]]
    neg = torch.randint(0, td.num_nodes, pos.shape, generator=torch.Generator().manual_seed(1))

    def step(prepare):
        def run():
            prepare()
            model.zero_grad()
            z = model.encode(data)
            out = torch.cat([model.score(z, pos, data), model.score(z, neg, data)])
            target = torch.cat([torch.ones(batch), torch.zeros(batch)])
            F.binary_cross_entropy_with_logits(out, target).backward()
        return run

    return model, step, spec, td, batch


def step_fns(task_id: str, data_root: str | None) -> tuple[dict, dict]:
    model, step, _, td, batch = ncn_training_step(task_id, data_root)
    sparse_layer = model.input_layer

    def dense_layer(x):
        return model.xlin(F.dropout(x, model.input_dropout, model.training))

    def use(layer):
        return lambda: setattr(model, "input_layer", layer)

    density = float((td.x != 0).float().mean())
    meta = {"task": task_id, "nodes": td.num_nodes, "features": td.x.size(1), "nonzero_share": round(density, 4),
            "batch": batch, "input_dropout": model.input_dropout}
    return meta, {"dense": step(use(dense_layer)), "sparse": step(use(sparse_layer))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="cora-link,citeseer-link,pubmed-link")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for task_id in args.tasks.split(","):
        meta, fns = step_fns(task_id, args.data_root)
        times = interleaved(fns, args.repeats)
        d, s = statistics.median(times["dense"]), statistics.median(times["sparse"])
        rows.append({**meta, "dense_s": round(d, 4), "sparse_s": round(s, 4), "speedup": round(d / s, 2),
                     "repeats": args.repeats})
        print(f"{task_id:<14} dense {d:.3f} s  sparse {s:.3f} s  x{d / s:.2f} per training step", file=sys.stderr)
    print(environment(), file=sys.stderr)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
