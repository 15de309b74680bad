"""NCN in the authors' network (`architecture: authors-code`): the predictor's node MLP on the nodes a batch names
(gbench) against on every node (the authors' code).

One NCN training step (encode the whole graph, score a batch of positives and as many random pairs, binary
cross-entropy, backward) on each named task's real features and training graph, with the task's own NCN settings
(the `*-70-10-20` tasks use the authors' network), two ways with the same model: "every node" computes
x = z + MLP_x(z) for all N nodes and sums the common neighbours' rows, as the code does; "named nodes" is
`CodePredictor.forward`, which computes x only for the nodes the batch's common-neighbour matrix names. In
evaluation the two give the same numbers; in training the same distribution. The two alternate (A B A B ...),
median of `--repeats`.

    python benchmarks/ncn_node_states.py [--tasks cora-link-70-10-20,citeseer-link-70-10-20,pubmed-link-70-10-20]
        [--data-root ../shared/data] [--repeats 7] [--json out.json]
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


def step_fns(task_id: str, data_root: str | None) -> tuple[dict, dict]:
    from gbench.data import load_task_data
    from gbench.data.staging import DataContext
    from gbench.models.contract import TaskInfo
    from gbench.models.link import ncn
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model
    from gbench.train.link import model_inputs

    task = load_task(task_id)
    spec = resolve_model(load_model("ncn", "link"), task)
    if spec.hparams.get("architecture") != "authors-code":
        raise SystemExit(f"{task_id}: ncn does not use the authors' network on this task; name a *-70-10-20 task.")
    td = load_task_data(task, DataContext.from_env(data_root, offline=True))
    info = TaskInfo(level="link", target="binary", num_features=td.x.size(1), out_dim=1, num_nodes=td.num_nodes)
    torch.manual_seed(0)
    model = ncn(info, **spec.hparams).train()
    data = model_inputs(td, "train", torch.device("cpu"))
    batch = int(task.protocol.batch_size or 384)
    pos = td.train_pos[:, torch.randperm(td.train_pos.size(1), generator=torch.Generator().manual_seed(0))[:batch]]
    neg = torch.randint(0, td.num_nodes, pos.shape, generator=torch.Generator().manual_seed(1))
    named = model.predictor.forward

    def every(s, z, pairs, x=None):
        return named(s, z, pairs, model.predictor.node_states(z))

    def step(forward):
        def run():
            model.predictor.forward = forward
            model.zero_grad()
            z = model.encode(data)
            out = torch.cat([model.score(z, pos, data), model.score(z, neg, data)])
            target = torch.cat([torch.ones(batch), torch.zeros(batch)])
            F.binary_cross_entropy_with_logits(out, target).backward()
        return run

    meta = {"task": task_id, "nodes": td.num_nodes, "batch": batch}
    return meta, {"every": step(every), "named": step(named)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="cora-link-70-10-20,citeseer-link-70-10-20,pubmed-link-70-10-20")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for task_id in args.tasks.split(","):
        meta, fns = step_fns(task_id, args.data_root)
        times = interleaved(fns, args.repeats)
        e, n = statistics.median(times["every"]), statistics.median(times["named"])
        rows.append({**meta, "every_node_s": round(e, 4), "named_nodes_s": round(n, 4), "speedup": round(e / n, 2),
                     "repeats": args.repeats})
        print(f"{task_id:<24} every node {e:.3f} s  named nodes {n:.3f} s  x{e / n:.2f} per training step",
              file=sys.stderr)
    print(environment(), file=sys.stderr)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
