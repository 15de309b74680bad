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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, interleaved, write_json  # noqa: E402
from ncn_input import ncn_training_step  # noqa: E402


def step_fns(task_id: str, data_root: str | None) -> tuple[dict, dict]:
    model, step, spec, td, batch = ncn_training_step(task_id, data_root)
    if spec.hparams.get("architecture") != "authors-code":
        raise SystemExit(f"{task_id}: ncn does not use the authors' network on this task; name a *-70-10-20 task.")
    named = model.predictor.forward

    def every(s, z, pairs, x=None):
        return named(s, z, pairs, model.predictor.node_states(z))

    def use(forward):
        return lambda: setattr(model.predictor, "forward", forward)

    meta = {"task": task_id, "nodes": td.num_nodes, "batch": batch}
    return meta, {"every": step(use(every)), "named": step(use(named))}


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
