"""Learned spectral positional encoders: SignNet (Lim et al., ICLR 2023) and SPE (Huang et al., ICLR 2024).

Both read the eigenpairs the `eig:K` transform stores once per dataset (`eig_vals` [1, K] per graph, `eig_vecs`
[n, K]; gbench/data/transforms.py) and learn their networks inside the model. A model factory builds one with
`spectral_encoder(info, hidden, pe, pe_args)`; its output [num_nodes, hidden] is added to the node embedding.

- SignNet: f(V, lambda) = rho([phi(v_k, lambda_k) + phi(-v_k, lambda_k)]_k), phi a GIN over the graph applied to
  each eigenvector as a 2-channel node signal (the eigenvector entry and its eigenvalue), rho an MLP over the
  concatenation of the K results. Invariant to the sign of every eigenvector.
- SPE: f(V, lambda) = rho(V diag(psi_1(lambda)) V^T, ..., V diag(psi_m(lambda)) V^T), each psi_l an MLP applied to
  every eigenvalue alone, rho a GIN over the graph whose node i holds the n x m matrix [W_l[i, j]]_{j,l} (column j
  an extra batch axis), summed over j (`pe_args.pool: mean` averages instead: a what-if, not SPE as published,
  whose sum grows with the graph's size; `pe_args.scale: n` multiplies each V diag(psi_l) V^T by n, whose entries
  shrink as 1/n: a second what-if; `pe_args.eigenvalues: zero` hides the eigenvalues from psi, an ablation;
  benchmarks/README.md section 14). Invariant to any orthogonal change of basis within an eigenspace, and
  Lipschitz in (V, lambda) (the paper's stability).

Padding: a graph with n < K nodes has K - n padded eigenpairs; they are masked by the node count (an eigenpair
index k is real iff k < n), so their stored values never reach the output. The networks run on real items only
(SignNet: the batch's nodes; SPE: the sum over graphs of n^2 (node, anchor) pairs); only each GIN layer's neighbour
sum goes through blocks padded to the batch's largest graph, one batched matrix product (`_Graphs`). Before
2026-12-03 the networks ran on the padded blocks too: same outputs, SPE about 2x and SignNet 1.4x slower on
training batches (`benchmarks/pe_encoders.py`). Every network is per graph (layer norm, not batch norm, inside the
MLPs), so a graph's encoding does not depend on the rest of its batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gbench.models.contract import TaskInfo

# name -> (default settings, what each means). Sources are in the model specs that use them.
SETTINGS: dict[str, dict[str, tuple[int | str, str]]] = {
    "signnet": {
        "dim": (16, "width of the encoding rho outputs"),
        "layers": (3, "GIN layers of phi"),
        "hidden": (32, "hidden width of phi's GIN"),
        "channels": (4, "phi's output width per eigenvector"),
        "rho_hidden": (64, "hidden width of rho's 2-layer MLP"),
    },
    "spe": {
        "dim": (16, "width of the encoding rho outputs"),
        "layers": (3, "GIN layers of rho"),
        "hidden": (32, "hidden width of rho's GIN"),
        "channels": (16, "m, the number of eigenvalue functions psi_l"),
        "psi_hidden": (16, "hidden width of each psi_l (a 3-layer MLP on one eigenvalue)"),
        "pool": ("sum", "how rho's outputs over a graph's n anchors combine: sum (the paper's Eq. 2 and its code; "
                        "the encoding grows with n) or mean (divided by n; not SPE as published)"),
        "scale": ("none", "none (the paper's) or n: each V diag(psi_l) V^T multiplied by the graph's node count, "
                          "so rho's inputs keep their size on larger graphs (unit eigenvectors' entries shrink as "
                          "1/sqrt(n)); not SPE as published"),
        "eigenvalues": ("read", "read (the paper's) or zero: each psi_l reads 0 in place of every eigenvalue, so "
                                "V diag(psi_l) V^T is psi_l(0) V V^T and the encoding sees no eigenvalue (an "
                                "ablation, not SPE as published)"),
    },
}


def _mlp(a: int, hidden: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, b))


class GIN(nn.Module):
    """GIN layers h' = MLP((1 + eps) h + sum of h over the neighbours), with ReLU between layers, over items that
    are nodes (SignNet) or (node, anchor) pairs (SPE).

    forward(x [P, *S, in_dim], aggregate) -> [P, *S, out_dim]: aggregate(h) is each item's sum over its
    neighbours, the same shape as h; the middle axes S are independent signals on the same graph (eigenvectors
    for SignNet).
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, layers: int) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"pe_args.layers must be >= 1, got {layers}")
        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.mlps = nn.ModuleList(_mlp(dims[i], hidden, dims[i + 1]) for i in range(layers))
        self.eps = nn.Parameter(torch.zeros(layers))

    def forward(self, x: Tensor, aggregate) -> Tensor:
        for i, mlp in enumerate(self.mlps):
            x = mlp((1 + self.eps[i]) * x + aggregate(x))
            if i < len(self.mlps) - 1:
                x = torch.relu(x)
        return x


def _ranges(lengths: Tensor) -> tuple[Tensor, Tensor]:
    """For concatenated ranges 0..lengths[r]-1: (owner r, position in the range) of each element."""
    owner = torch.repeat_interleave(torch.arange(lengths.numel(), device=lengths.device), lengths)
    starts = lengths.cumsum(0) - lengths
    return owner, torch.arange(owner.numel(), device=lengths.device) - starts[owner]


class _Graphs:
    """A batch's graphs as dense blocks for message passing: each graph's nodes at positions 0..n_b-1 of a block
    of the batch's largest size, with the adjacency of the undirected simple graph the eigenpairs are of
    (symmetric, no self-loops, a duplicated edge once). The networks run on the real items only; a block is
    filled for one batched matrix product per GIN layer and read back, so padding costs no MLP work."""

    def __init__(self, batch) -> None:
        from torch_geometric.utils import to_dense_adj

        self.graph = batch.batch
        self.size = batch.num_graphs
        self.counts = torch.bincount(self.graph, minlength=self.size)
        first = self.counts.cumsum(0) - self.counts
        self.pos = torch.arange(self.graph.numel(), device=self.graph.device) - first[self.graph]  # within its graph
        self.n_max = int(self.counts.max()) if self.size else 0
        adj = to_dense_adj(batch.edge_index, self.graph, max_num_nodes=self.n_max, batch_size=self.size)
        adj = ((adj + adj.transpose(1, 2)) > 0).to(batch.eig_vecs.dtype)
        self.adj = adj * (1 - torch.eye(self.n_max, dtype=adj.dtype, device=adj.device))
        k = batch.eig_vals.size(1)
        # pair k of graph b is real iff k < n_b
        self.pair_mask = torch.arange(k, device=self.graph.device)[None, :] < self.counts[:, None]

    def neighbour_sum(self, x: Tensor, g: Tensor, i: Tensor, *rest: Tensor) -> Tensor:
        """x [P, *S]: item p belongs to node i[p] of graph g[p] (and, for SPE's pairs, to anchor rest[0][p]); ->
        [P, *S], each item's sum over the items that differ from it only in the node, at the node's neighbours."""
        block = x.new_zeros((self.size, self.n_max) + (self.n_max,) * len(rest) + x.shape[1:])
        block[(g, i) + rest] = x
        out = torch.bmm(self.adj, block.reshape(self.size, self.n_max, -1)).reshape(block.shape)
        return out[(g, i) + rest]


class SignNetEncoder(nn.Module):
    """SignNet (Lim et al., ICLR 2023, Sec. 3): per node, rho(concat_k [phi(v_k, l_k) + phi(-v_k, l_k)]).

    forward(batch with eig_vecs [N, K], eig_vals [B, K]) -> [N, dim]. phi runs on v and -v in one pass, so even
    in training its signals are the same set under any sign flip."""

    def __init__(self, k: int, dim: int, layers: int, hidden: int, channels: int, rho_hidden: int) -> None:
        super().__init__()
        self.phi = GIN(2, hidden, channels, layers)
        self.rho = nn.Sequential(nn.Linear(k * channels, rho_hidden), nn.ReLU(), nn.Linear(rho_hidden, dim))

    def forward(self, batch) -> Tensor:
        graphs = _Graphs(batch)
        vecs, graph = batch.eig_vecs, graphs.graph
        n, k = vecs.shape
        lam = batch.eig_vals[graph]
        signals = torch.stack([torch.cat([vecs, -vecs], 1), torch.cat([lam, lam], 1)], -1)  # [N, 2K, 2]
        out = self.phi(signals, lambda h: graphs.neighbour_sum(h, graph, graphs.pos))  # [N, 2K, channels]
        out = (out[:, :k] + out[:, k:]) * graphs.pair_mask[graph][:, :, None]
        return self.rho(out.reshape(n, -1))


class SPEEncoder(nn.Module):
    """SPE (Huang et al., ICLR 2024, Sec. 3, Eq. 2): rho(V diag(psi_1(l)) V^T, ..., V diag(psi_m(l)) V^T).

    forward(batch with eig_vecs [N, K], eig_vals [B, K]) -> [N, dim]. Items are the (node i, anchor j) pairs of
    each graph, n^2 per graph; cost per graph: n_max^2 * K * m for the matrices, n^2 * hidden^2 per GIN layer's
    MLP and n_max^3 * hidden for its neighbour sum."""

    def __init__(self, dim: int, layers: int, hidden: int, channels: int, psi_hidden: int, pool: str = "sum",
                 scale: str = "none", eigenvalues: str = "read") -> None:
        super().__init__()
        for name, value in (("pool", pool), ("scale", scale), ("eigenvalues", eigenvalues)):
            _check_choice(name, value)
        self.pool, self.scale, self.eigenvalues = pool, scale, eigenvalues
        self.psi = nn.ModuleList(
            nn.Sequential(nn.Linear(1, psi_hidden), nn.ReLU(), nn.Linear(psi_hidden, psi_hidden), nn.ReLU(),
                          nn.Linear(psi_hidden, 1)) for _ in range(channels))
        self.rho = GIN(channels, hidden, dim, layers)

    def forward(self, batch) -> Tensor:
        from torch_geometric.utils import to_dense_batch

        graphs = _Graphs(batch)
        counts = graphs.counts
        lam = batch.eig_vals if self.eigenvalues == "read" else torch.zeros_like(batch.eig_vals)
        z = torch.cat([psi(lam.unsqueeze(-1)) for psi in self.psi], -1)  # [B, K, m], psi_l each
        z = z * graphs.pair_mask.unsqueeze(-1)  # padded pairs weigh 0 in every V diag(z_l) V^T
        # The real (node i, anchor j) pairs of each graph: pair p is (i[p], j[p]) of graph g[p].
        g, t = _ranges(counts * counts)
        i, j = t // counts[g], t % counts[g]
        vecs, _ = to_dense_batch(batch.eig_vecs, graphs.graph, batch_size=graphs.size)
        w = torch.einsum("bik,bkl,bjk->bijl", vecs, z, vecs)[g, i, j]  # [P, m]
        if self.scale == "n":  # the what-if: as if every eigenvector had norm sqrt(n), entries of size about 1
            w = w * counts[g, None].to(w.dtype)
        out = self.rho(w, lambda h: graphs.neighbour_sum(h, g, i, j))  # [P, dim]
        # The sum over the anchors j, in a block (unique indices: no scatter-add, deterministic on every device).
        block = out.new_zeros(graphs.size, graphs.n_max, graphs.n_max, out.size(1))
        block[g, i, j] = out
        pooled = block.sum(2)[graphs.graph, graphs.pos]
        return pooled / counts[graphs.graph, None].to(pooled.dtype) if self.pool == "mean" else pooled


class SpectralPE(nn.Module):
    """An encoder's output [N, dim] mapped to the model width: [N, hidden]."""

    def __init__(self, encoder: nn.Module, dim: int, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(dim, hidden)

    def forward(self, batch) -> Tensor:
        return self.proj(self.encoder(batch))


# settings that take a word, and which words
CHOICES: dict[str, tuple[str, ...]] = {"pool": ("sum", "mean"), "scale": ("none", "n"), "eigenvalues": ("read", "zero")}


def _check_choice(name: str, value: Any) -> None:
    if value not in CHOICES[name]:
        raise ValueError(f"pe_args.{name} must be {' or '.join(CHOICES[name])}, got {value!r}.")


def encoder_settings(pe: str, pe_args: dict[str, Any] | None) -> dict[str, Any]:
    """`pe_args` over the defaults of encoder `pe` (`SETTINGS`); ValueError, one sentence, for an unknown encoder,
    setting or value. Needs no data, so a sweep checks every spec with it before it starts
    (`gbench.hparams.check_hparams`)."""
    if pe not in SETTINGS:
        raise ValueError(f"pe '{pe}' is not known; use one of: {', '.join(SETTINGS)} (or leave pe out).")
    defaults = SETTINGS[pe]
    if not isinstance(pe_args, (dict, type(None))):
        raise ValueError(f"pe_args must be a mapping of settings, e.g. {{dim: 16}}, got {pe_args!r}.")
    unknown = sorted(set(pe_args or {}) - set(defaults))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(defaults), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"pe_args: {', '.join(unknown)} not known for pe: {pe}{hint}; its settings, with their "
                         "defaults: " + ", ".join(f"{name} {d}" for name, (d, _) in defaults.items())
                         + " (what each means: gbench.models.pe.SETTINGS).")
    args: dict[str, Any] = {}
    for name, (default, _) in defaults.items():
        value = (pe_args or {}).get(name, default)
        if name in CHOICES:
            _check_choice(name, value)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"pe_args.{name} must be a whole number of at least 1, got {value!r}.")
        args[name] = value
    return args


def spectral_encoder(info: TaskInfo, hidden: int, pe: str, pe_args: dict[str, Any] | None) -> SpectralPE:
    """The `pe` encoder ('signnet' or 'spe') with `pe_args` over its defaults (`SETTINGS`), -> [N, hidden]."""
    args = encoder_settings(pe, pe_args)
    k = info.extras.get("eig")
    if not k:
        raise ValueError(f"pe: {pe} reads the graph's eigenpairs; add 'eig:16' to the model spec's transforms.")
    if pe == "signnet":
        encoder: nn.Module = SignNetEncoder(k, **args)
    else:
        encoder = SPEEncoder(**args)
    return SpectralPE(encoder, args["dim"], hidden)
