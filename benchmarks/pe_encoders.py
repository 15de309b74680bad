"""SignNet and SPE encoders: packed items (gbench) against dense padded blocks (the plain way), per batch.

A batch of `--batch` graphs is drawn (seeded) from each named split of a structural task (the paper-sized topology
task by default: train graphs of 20-50 nodes, far-OOD of 60-150), with the `eig:16` eigenpairs. Each encoder, at
its default settings, runs forward + backward on it two ways with the same parameters:

- packed (gbench/models/pe.py): the networks run on the real items only (SignNet: the N nodes; SPE: the sum over
  graphs of n^2 (node, anchor) pairs); only the neighbour sum goes through a dense block per graph.
- padded: every graph padded to the batch's largest, the networks run on [B, n_max, ...] blocks, as the encoders
  did before 2026-12-03 and as a plain PyTorch implementation with `to_dense_batch` does.

The two alternate (A B A B ...), median of `--repeats`; the outputs and the gradients are compared first.

    python benchmarks/pe_encoders.py [--task structure-topology] [--splits train,test_far_ood] [--batch 128]
        [--data-root ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment, interleaved, write_json  # noqa: E402


def padded(encoder, batch) -> torch.Tensor:
    """The encoder's formula on blocks padded to the batch's largest graph, with the encoder's own networks."""
    from torch_geometric.utils import to_dense_adj, to_dense_batch

    from gbench.models.pe import SignNetEncoder

    vecs, node_mask = to_dense_batch(batch.eig_vecs, batch.batch, batch_size=batch.num_graphs)
    b, n, k = vecs.shape
    adj = to_dense_adj(batch.edge_index, batch.batch, max_num_nodes=n, batch_size=b)
    adj = ((adj + adj.transpose(1, 2)) > 0).to(vecs.dtype) * (1 - torch.eye(n))
    pair_mask = torch.arange(k)[None, :] < node_mask.sum(1)[:, None]

    def neighbours(h: torch.Tensor) -> torch.Tensor:
        return torch.bmm(adj, h.reshape(b, n, -1)).reshape(h.shape)

    vals = batch.eig_vals
    if isinstance(encoder, SignNetEncoder):
        lam = vals[:, None, :].expand(b, n, k)
        out = encoder.phi(torch.stack([torch.cat([vecs, -vecs], 2), torch.cat([lam, lam], 2)], -1), neighbours)
        out = (out[:, :, :k] + out[:, :, k:]) * pair_mask[:, None, :, None]
        return encoder.rho(out.reshape(b, n, -1))[node_mask]
    z = torch.cat([psi(vals.unsqueeze(-1)) for psi in encoder.psi], -1) * pair_mask.unsqueeze(-1)
    w = torch.einsum("bik,bkl,bjk->bijl", vecs, z, vecs)
    return (encoder.rho(w, neighbours) * node_mask[:, None, :, None]).sum(2)[node_mask]


def batches(task_id: str, splits: list[str], size: int, data_root: str | None) -> dict[str, object]:
    from torch_geometric.data import Batch

    from gbench.data.staging import DataContext
    from gbench.data.structure.dataset import load_structure
    from gbench.data.transforms import apply_transforms
    from gbench.specs import load_task

    data = load_structure(load_task(task_id), DataContext.from_env(data_root, offline=True))
    gen = torch.Generator().manual_seed(0)
    out = {}
    for name in splits:
        idx = data.splits[0][name]
        pick = idx[torch.randperm(idx.numel(), generator=gen)[:size]].tolist()
        graphs, _ = apply_transforms([data.graphs[i] for i in pick], ["eig:16"], None, f"bench-pe-{name}")
        out[name] = Batch.from_data_list(graphs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="structure-topology")
    ap.add_argument("--splits", default="train,test_far_ood")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from gbench.models.pe import SETTINGS, SignNetEncoder, SPEEncoder

    rows = []
    for split, batch in batches(args.task, args.splits.split(","), args.batch, args.data_root).items():
        counts = torch.bincount(batch.batch)
        for pe, cls in (("signnet", SignNetEncoder), ("spe", SPEEncoder)):
            torch.manual_seed(0)
            kwargs = {k: d for k, (d, _) in SETTINGS[pe].items()}
            enc = cls(16, **kwargs) if pe == "signnet" else cls(**kwargs)
            grads = []
            for fn in (enc, lambda b: padded(enc, b)):
                enc.zero_grad()
                y = fn(batch)
                y.square().sum().backward()
                grads.append((y.detach(), torch.cat([p.grad.flatten() for p in enc.parameters()])))
            (ya, ga), (yb, gb) = grads
            step = {"packed": lambda: enc(batch).square().sum().backward(),
                    "padded": lambda: padded(enc, batch).square().sum().backward()}
            times = interleaved(step, args.repeats)
            pk, pd = statistics.median(times["packed"]), statistics.median(times["padded"])
            rows.append({"task": args.task, "split": split, "encoder": pe, "graphs": batch.num_graphs,
                         "nodes_mean": round(counts.float().mean().item(), 1), "nodes_max": int(counts.max()),
                         "padded_s": round(pd, 4), "packed_s": round(pk, 4), "speedup": round(pd / pk, 2),
                         "max_rel_output_diff": float((ya - yb).abs().max() / ya.abs().max()),
                         "max_rel_grad_diff": float((ga - gb).abs().max() / ga.abs().max()),
                         "repeats": args.repeats})
            r = rows[-1]
            print(f"{split:<9} {pe:<8} padded {pd:7.3f} s  packed {pk:7.3f} s  x{r['speedup']:.2f}  "
                  f"(output diff {r['max_rel_output_diff']:.1e}, grad diff {r['max_rel_grad_diff']:.1e})",
                  file=sys.stderr)
    print(environment(), file=sys.stderr)
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
