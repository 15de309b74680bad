"""Input transforms a model asks for in its spec (`transforms: [lap_pe:16]`), computed once per dataset.

A transform adds attributes to every graph (e.g. `lap_pe` [n, k]; `eig:K`'s eigenpairs for the SignNet and SPE
encoders) and facts to `TaskInfo.extras` (e.g. `{'lap_pe': 16}`), so the factory knows their width. They are part
of the model spec, hence of the job identity.
Registry entries are lazy `module:function` strings; a function is `fn(graphs, args, ctx, key) -> (graphs, extras)`
where `args` are the ':'-separated words after the name and `key` identifies the dataset for caching. An installed
package adds transforms through the entry point group `gbench.transforms` (gbench/plugins.py).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gbench.errors import SpecError

if TYPE_CHECKING:
    from torch_geometric.data import Data

    from gbench.data.staging import DataContext

TRANSFORMS: dict[str, str] = {
    "lap_pe": "gbench.data.transforms:laplacian_pe",
    "eig": "gbench.data.transforms:eigen_pairs",
    "rw_pe": "gbench.data.transforms:random_walk_pe",
    "degree_onehot": "gbench.data.transforms:degree_onehot",
    "render": "gbench.data.render:render_transform",
}

_cache: dict[tuple[str, str], tuple[list, dict]] = {}
_lock = threading.Lock()


def transform_table() -> dict[str, str]:
    """Transform name -> `module:function`: gbench's own and those of installed plug-ins (`gbench.transforms`)."""
    from gbench.plugins import targets

    return targets("gbench.transforms", TRANSFORMS)


def parse(spec: str) -> tuple[str, list[str]]:
    name, *args = spec.split(":")
    table = transform_table()
    if name not in table:
        raise SpecError(f"transform '{spec}' is not known; known transforms: {', '.join(sorted(table))} "
                        "(e.g. lap_pe:16, rw_pe:16).")
    return name, args


def apply_transforms(graphs: list[Data], specs: list[str], ctx: DataContext | None, key: str
                     ) -> tuple[list[Data], dict[str, Any]]:
    """Apply the transforms in order; results are cached per (dataset key, transform list) in this process."""
    extras: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        name, args = parse(spec)
        cache_key = (key, "|".join(specs[: i + 1]))
        with _lock:
            hit = _cache.get(cache_key)
        if hit is None:
            module, attr = transform_table()[name].split(":")
            fn = getattr(importlib.import_module(module), attr)
            hit = fn(graphs, args, ctx, f"{key}|{'|'.join(specs[: i + 1])}")
            with _lock:
                _cache[cache_key] = hit
        graphs, more = hit
        extras.update(more)
    return graphs, extras


def _int_arg(args: list[str], default: int, what: str) -> int:
    if not args:
        return default
    try:
        value = int(args[0])
    except ValueError:
        raise SpecError(f"transform {what}:{args[0]}: the argument must be an integer.") from None
    if value < 1:
        raise SpecError(f"transform {what}:{value}: the argument must be at least 1.")
    return value


def _copy_with(data: Data, **attrs: torch.Tensor) -> Data:
    out = data.clone()
    for k, v in attrs.items():
        setattr(out, k, v)
    return out


def _adjacency(edge_index: torch.Tensor, num_nodes: int) -> np.ndarray:
    """A of the undirected simple graph (both directions, no self-loops), [num_nodes, num_nodes] float64."""
    a = np.zeros((num_nodes, num_nodes))
    if edge_index.numel():
        ei = edge_index.numpy()
        a[ei[0], ei[1]] = 1.0
        a[ei[1], ei[0]] = 1.0
    np.fill_diagonal(a, 0.0)
    return a


def _combinatorial_laplacian(edge_index: torch.Tensor, num_nodes: int) -> np.ndarray:
    """L = D - A of the undirected simple graph (GraphGPS's LapPE with `laplacian_norm: none`)."""
    a = _adjacency(edge_index, num_nodes)
    return np.diag(a.sum(1)) - a


def normalized_laplacian(edge_index: torch.Tensor, num_nodes: int) -> np.ndarray:
    """L = I - D^-1/2 A D^-1/2 of the undirected simple graph, [num_nodes, num_nodes] float64; an isolated node
    has L_ii = 1."""
    a = _adjacency(edge_index, num_nodes)
    deg = a.sum(1)
    with np.errstate(divide="ignore"):  # an isolated node's 0 ** -0.5 is computed, then discarded by the where
        inv = np.where(deg > 0, deg ** -0.5, 0.0)
    return np.eye(num_nodes) - inv[:, None] * a * inv[None, :]


def _pivoted_basis(vecs: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the span of `vecs` (orthonormal columns) that depends on the span alone: pivoted
    Gram-Schmidt on the columns of its projector P = V V^T, each step taking the column with the largest residual
    (the first, in node order, within a relative 1e-6 of it), so every vector is positive at its pivot."""
    q = vecs @ vecs.T  # the residual projector: P, less each vector taken so far
    out = np.zeros_like(vecs)
    for j in range(vecs.shape[1]):
        diag = np.diag(q)  # |q e_i|^2 of a projector q
        i = int(np.flatnonzero(diag >= diag.max() * (1 - 1e-6))[0])
        out[:, j] = q[:, i] / np.sqrt(diag[i])
        q = q - np.outer(out[:, j], out[:, j])
    return out


def canonical_eigvecs(vals: np.ndarray, vecs: np.ndarray, upto: int, tol: float = 1e-8) -> np.ndarray:
    """The first `upto` of `eigh`'s eigenvectors in a basis that depends on the eigenspaces alone. Inside the
    eigenspace of a repeated eigenvalue `eigh` may return any orthonormal basis, and which one depends on the
    machine's BLAS / LAPACK kernel (benchmarks/eig_kernels.py: half the graphs of structure-symmetry get other
    LapPE inputs on OpenBLAS's SkylakeX kernel than on its Haswell one). Eigenvalues closer than `tol` (chained)
    form one eigenspace, which `_pivoted_basis` spans; a simple eigenvector thereby gets the sign that makes its
    largest-magnitude entry positive (the first such, within 1e-6). An eigenspace cut by `upto` is spanned whole,
    then cut."""
    out = vecs.copy()
    start = 0
    while start < min(upto, vecs.shape[1]):
        end = start + 1
        while end < len(vals) and vals[end] - vals[end - 1] < tol:
            end += 1
        out[:, start:end] = _pivoted_basis(vecs[:, start:end])
        start = end
    return out[:, :upto]


def _eigh(laplacian: np.ndarray, upto: int, canonical: bool) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues and their eigenvectors (the first `upto`), signs fixed so the largest-magnitude entry
    is positive (LAPACK's basis inside a repeated eigenvalue's eigenspace), or `canonical_eigvecs`, then both
    rounded to multiples of 1e-7: what differs between kernels after that is round-off of about 1e-15, which
    moves a float32 input only where it lies that close to a rounding midpoint."""
    vals, vecs = np.linalg.eigh(laplacian)
    if canonical:
        return np.round(vals[:upto], 7), np.round(canonical_eigvecs(vals, vecs, upto), 7)
    vecs = vecs[:, :upto]
    if not vecs.size:
        return vals[:upto], vecs
    idx = np.abs(vecs).argmax(0)
    return vals[:upto], vecs * np.sign(vecs[idx, np.arange(vecs.shape[1])])[None, :]


def laplacian_eigvecs(edge_index: torch.Tensor, num_nodes: int, k: int, canonical: bool = False) -> torch.Tensor:
    """The k eigenvectors of L = I - D^-1/2 A D^-1/2 after the first (ascending eigenvalues), [num_nodes, k],
    zero-padded when the graph has fewer than k+1 nodes. Signs are fixed (largest-magnitude entry positive) so the
    result is deterministic on one machine; models flip signs at random in training, as is standard for LapPE.
    `canonical`: the basis `canonical_eigvecs` gives, the same on every BLAS / LAPACK kernel."""
    _, vecs = _eigh(normalized_laplacian(edge_index, num_nodes), k + 1, canonical)
    vecs = vecs[:, 1: k + 1]
    out = np.zeros((num_nodes, k), dtype=np.float32)
    out[:, : vecs.shape[1]] = vecs
    return torch.from_numpy(out)


def _canonical(name: str, args: list[str], at: int) -> bool:
    """Whether the argument at `at` (the basis: lapack, the default, or canonical) asks for `canonical_eigvecs`."""
    basis = args[at] if len(args) > at else "lapack"
    if basis not in ("lapack", "canonical") or len(args) > at + 1:
        raise SpecError(f"transform {name}:{':'.join(args)}: the basis must be lapack or canonical (an eigenbasis "
                        f"the same on every BLAS kernel), e.g. {name}:16{':sym' if name == 'eig' else ''}:canonical.")
    return basis == "canonical"


def laplacian_pe(graphs, args, ctx, key):
    """`lap_pe:K[:BASIS]`: each graph gets `lap_pe` [n, K], `laplacian_eigvecs` (BASIS lapack, the default:
    LAPACK's eigenbasis; canonical: one that is the same on every BLAS / LAPACK kernel); extras `{'lap_pe': K}`."""
    k = _int_arg(args, 16, "lap_pe")
    canonical = _canonical("lap_pe", args, 1)
    return ([_copy_with(g, lap_pe=laplacian_eigvecs(g.edge_index, g.num_nodes, k, canonical)) for g in graphs],
            {"lap_pe": k})


def laplacian_eigenpairs(edge_index: torch.Tensor, num_nodes: int, k: int, laplacian: str = "sym",
                         canonical: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest eigenpairs of L = I - D^-1/2 A D^-1/2 (`laplacian` 'sym'; 'comb': L = D - A), the trivial
    one included: (eigenvalues [1, k], eigenvectors [num_nodes, k]), float32, ascending. A graph with fewer than k
    nodes has its pairs min(n, k)..k-1 zero (eigenvalue 0, eigenvector 0); encoders mask them by the graph's node
    count, never by their value. Signs are fixed (largest-magnitude entry positive) for determinism; SignNet, SPE
    and GraphGPS's LapPE (which flips them at random in training) do not depend on them. `canonical`: the basis
    `canonical_eigvecs` gives, the same on every BLAS / LAPACK kernel."""
    comb = laplacian == "comb"
    d = min(num_nodes, k)
    vals, vecs = _eigh((_combinatorial_laplacian if comb else normalized_laplacian)(edge_index, num_nodes), d,
                       canonical)
    out_vals = np.zeros((1, k), dtype=np.float32)
    out_vecs = np.zeros((num_nodes, k), dtype=np.float32)
    out_vals[0, :d] = np.clip(vals, 0.0, None if comb else 2.0)  # round-off can put the trivial one at -1e-16
    out_vecs[:, :d] = vecs
    return torch.from_numpy(out_vals), torch.from_numpy(out_vecs)


def eigen_pairs(graphs, args, ctx, key):
    """`eig:K[:LAPLACIAN[:BASIS]]`: each graph gets `eig_vals` [1, K] and `eig_vecs` [n, K]
    (`laplacian_eigenpairs` of the 'sym' normalized Laplacian, or 'comb', D - A; BASIS lapack, the default, or
    canonical: an eigenbasis that is the same on every BLAS / LAPACK kernel), the inputs of the SignNet and SPE encoders
    (gbench/models/pe.py) and of GraphGPS's LapPE (gbench/models/graphgps.py); extras `{'eig': K}`."""
    k = _int_arg(args, 16, "eig")
    laplacian = args[1] if len(args) > 1 else "sym"
    if laplacian not in ("sym", "comb"):
        raise SpecError(f"transform eig:{':'.join(args)}: the Laplacian must be sym or comb, e.g. eig:10:comb.")
    canonical = _canonical("eig", args, 2)
    out = []
    for g in graphs:
        vals, vecs = laplacian_eigenpairs(g.edge_index, g.num_nodes, k, laplacian, canonical)
        out.append(_copy_with(g, eig_vals=vals, eig_vecs=vecs))
    return out, {"eig": k}


def random_walk_pe(graphs, args, ctx, key):
    """Landing probabilities of a random walk returning to its start after 1..k steps (Dwivedi et al., 2022),
    via PyG's `AddRandomWalkPE`."""
    from torch_geometric.transforms import AddRandomWalkPE

    k = _int_arg(args, 16, "rw_pe")
    t = AddRandomWalkPE(walk_length=k, attr_name="rw_pe")
    return [t(g.clone()) for g in graphs], {"rw_pe": k}


def degree_onehot(graphs, args, ctx, key):
    """x := one-hot node degree, clipped at `max` (default 100, as GraphAbstract), replacing any features."""
    from torch_geometric.utils import degree

    m = _int_arg(args, 100, "degree_onehot")
    out = []
    for g in graphs:
        deg = degree(g.edge_index[0], g.num_nodes, dtype=torch.long).clamp(max=m)
        out.append(_copy_with(g, x=torch.nn.functional.one_hot(deg, m + 1).float()))
    return out, {"degree_onehot": m}
