"""Do the eigenvector inputs (LapPE, SignNet, SPE) of a task's graphs depend on the machine's LAPACK kernel?

numpy's `eigh` returns any orthonormal basis of a repeated eigenvalue's eigenspace, and which one depends on the
BLAS/LAPACK kernel the process runs (OpenBLAS picks Haswell, SkylakeX, ... by CPU). gbench computes its eigenvector
transforms with it (`gbench.data.transforms`: `lap_pe:K` for LapPE, `eig:K` for SignNet and SPE). This script
computes them for every graph of a task once per kernel, each in its own process (`OPENBLAS_CORETYPE`), and says,
per split, how many graphs get other inputs on another kernel:

    python benchmarks/eig_kernels.py --task structure-symmetry --data-root ../shared/data [--kernels Haswell,SkylakeX]
        [--basis canonical]

`--basis canonical` computes them as `lap_pe:K:canonical` / `eig:K:sym:canonical` do (`canonical_eigvecs`: a basis
that depends on the eigenspaces alone), to check that those are the same on both kernels.

Columns: graphs whose 16 smallest normalized-Laplacian eigenvalues hold a repeated one (gap under 1e-6, the first
17 looked at), graphs whose `lap_pe` differs at all in float32 / by more than 1e-3 somewhere, the same for `eig`'s
eigenvectors, and for the projector V Vᵀ over `eig`'s eigenvectors (what SPE reads; it is basis-free unless an
eigenspace is cut at the K-th pair) and for the eigenvalues. A kernel this CPU cannot run falls back (OpenBLAS
then says so); the script prints the kernel each process reports and refuses a comparison of one kernel with itself.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import eigenvalue_multiplicity, environment, write_json  # noqa: E402


def dump(task_id: str, k: int, data_root: str | None, path: str, canonical: bool) -> None:
    """In this process (one kernel): every graph's transforms, concatenated, and the split of each graph."""
    import torch
    from threadpoolctl import threadpool_info

    from gbench import specs
    from gbench.data.staging import DataContext
    from gbench.data.transforms import laplacian_eigenpairs, laplacian_eigvecs
    from gbench.train.graph import graph_inputs

    torch.set_num_threads(1)
    task = specs.load_task(task_id)
    ctx = DataContext.from_env(data_root, offline=True)
    td, graphs, _ = graph_inputs(task, specs.resolve_model(specs.load_model("gcn-degree", "graph"), task), ctx)
    split_of = np.full(len(graphs), "", dtype=object)
    for name, idx in td.splits[0].items():
        split_of[np.asarray(idx)] = name
    lap, vecs, vals, proj, repeated = [], [], [], [], []
    for g in graphs:
        n = int(g.num_nodes)
        lap.append(laplacian_eigvecs(g.edge_index, n, k, canonical).numpy().ravel())
        w, v = laplacian_eigenpairs(g.edge_index, n, k, "sym", canonical)
        vecs.append(v.numpy().ravel())
        vals.append(w.numpy().ravel())
        v64 = v.numpy().astype(np.float64)
        proj.append(np.einsum("ik,jk->ij", v64, v64).ravel())  # einsum's own loop, not the kernel's BLAS
        repeated.append(eigenvalue_multiplicity(g.edge_index, n, k)[0])
    kernel = [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]
    np.savez(path, split=split_of.astype(str), repeated=np.array(repeated), kernel=np.array(kernel),
             **{f"{name}_{i}": a for name, arrays in (("lap", lap), ("vecs", vecs), ("vals", vals), ("proj", proj))
                for i, a in enumerate(arrays)})


def run_kernel(kernel: str, args, folder: str) -> str:
    path = os.path.join(folder, f"{kernel}.npz")
    env = {**os.environ, "OPENBLAS_CORETYPE": kernel, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--task", args.task, "--k", str(args.k), "--basis", args.basis, "--dump", path]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    subprocess.run(cmd, env=env, check=True)
    return path


def compare(a_path: str, b_path: str) -> list[dict]:
    a, b = np.load(a_path), np.load(b_path)
    split = a["split"]
    rows = []
    for name in dict.fromkeys(split.tolist()):
        idx = np.flatnonzero(split == name)
        row = {"split": name, "graphs": len(idx), "repeated": int(a["repeated"][idx].sum())}
        for what in ("lap", "vecs", "proj", "vals"):
            diffs = [float(np.abs(a[f"{what}_{i}"] - b[f"{what}_{i}"]).max(initial=0.0)) for i in idx]
            row[f"{what}_differs"] = sum(d > 0 for d in diffs)
            row[f"{what}_over_1e-3"] = sum(d > 1e-3 for d in diffs)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="structure-symmetry")
    ap.add_argument("--k", type=int, default=16, help="eigenpairs, as lap_pe:K / eig:K")
    ap.add_argument("--kernels", default="Haswell,SkylakeX", help="two OpenBLAS core types (OPENBLAS_CORETYPE)")
    ap.add_argument("--basis", choices=("lapack", "canonical"), default="lapack")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--dump", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.dump:
        dump(args.task, args.k, args.data_root, args.dump, args.basis == "canonical")
        return
    kernels = args.kernels.split(",")
    if len(kernels) != 2:
        ap.error("--kernels: give two OpenBLAS core types, e.g. Haswell,SkylakeX")
    with tempfile.TemporaryDirectory() as folder:
        paths = [run_kernel(k, args, folder) for k in kernels]
        ran = [str(np.load(p)["kernel"].tolist()) for p in paths]
        if ran[0] == ran[1]:
            raise SystemExit(f"error: both processes ran OpenBLAS kernel {ran[0]}; this CPU or build cannot run "
                             f"--kernels {args.kernels}, so there is nothing to compare.")
        rows = compare(*paths)
    print(f"{args.task}: {ran[0]} against {ran[1]}, k {args.k}, basis {args.basis}; graphs with other inputs (any "
          "difference / over 1e-3)", file=sys.stderr)
    print(f"{'split':<14} {'graphs':>6} {'repeated':>8} {'lap_pe':>11} {'eig vecs':>11} {'V Vt':>11} "
          f"{'eig vals':>11}", file=sys.stderr)
    for r in rows:
        cells = [f"{r[f'{w}_differs']:>5}/{r[f'{w}_over_1e-3']:<5}" for w in ("lap", "vecs", "proj", "vals")]
        print(f"{r['split']:<14} {r['graphs']:>6} {r['repeated']:>8} " + " ".join(cells), file=sys.stderr)
    print(environment(), file=sys.stderr)
    for r in rows:
        r["kernels"], r["basis"] = ran, args.basis
    write_json(rows, args.json)


if __name__ == "__main__":
    main()
