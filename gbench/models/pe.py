"""Learned spectral positional encoders: SignNet (Lim et al., ICLR 2023) and SPE (Huang et al., ICLR 2024).

Both read the eigenpairs the `eig:K` transform stores once per dataset (`eig_vals` [1, K] per graph, `eig_vecs`
[n, K]; gbench/data/transforms.py) and learn their networks inside the model. A model factory builds one with
`spectral_encoder(info, hidden, pe, pe_args)`; its output [num_nodes, hidden] is added to the node embedding.

- SignNet: f(V, lambda) = rho([phi(v_k, lambda_k) + phi(-v_k, lambda_k)]_k), phi a GIN over the graph applied to
  each eigenvector as a 2-channel node signal (the eigenvector entry and its eigenvalue), rho an MLP over the
  concatenation of the K results. Invariant to the sign of every eigenvector.
- SPE: f(V, lambda) = rho(V diag(psi_1(lambda)) V^T, ..., V diag(psi_m(lambda)) V^T), each psi_l an MLP applied to
  every eigenvalue alone, rho a GIN over the graph whose node i holds the n x m matrix [W_l[i, j]]_{j,l} (column j
  an extra batch axis), summed over j. Invariant to any orthogonal change of basis within an eigenspace, and
  Lipschitz in (V, lambda) (the paper's stability).

Padding: a graph with n < K nodes has K - n padded eigenpairs; they are masked by the node count (an eigenpair
index k is real iff k < n), so their stored values never reach the output. Graphs are processed as dense padded
blocks [B, n_max, ...] with a dense adjacency; every network is per graph (layer norm, not batch norm, inside the
MLPs), so a graph's encoding does not depend on the rest of its batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gbench.models.contract import TaskInfo

# name -> (default settings, what each means). Sources are in the model specs that use them.
SETTINGS: dict[str, dict[str, tuple[int, str]]] = {
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
    },
}


def _mlp(a: int, hidden: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, b))


class DenseGIN(nn.Module):
    """GIN layers h' = MLP((1 + eps) h + A h) over dense padded graphs, with ReLU between layers.

    forward(x [B, n, *S, in_dim], adj [B, n, n]) -> [B, n, *S, out_dim]: the middle axes S are independent signals
    on the same graph (eigenvectors for SignNet, anchor nodes j for SPE), aggregated over axis 1 only.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, layers: int) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"pe_args.layers must be >= 1, got {layers}")
        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.mlps = nn.ModuleList(_mlp(dims[i], hidden, dims[i + 1]) for i in range(layers))
        self.eps = nn.Parameter(torch.zeros(layers))

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        for i, mlp in enumerate(self.mlps):
            shape = x.shape
            agg = torch.bmm(adj, x.reshape(shape[0], shape[1], -1)).reshape(shape)
            x = mlp((1 + self.eps[i]) * x + agg)
            if i < len(self.mlps) - 1:
                x = torch.relu(x)
        return x


def _dense(batch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(V [B, n_max, K], lambda [B, K], adjacency [B, n_max, n_max], node mask [B, n_max] bool,
    eigenpair mask [B, K] bool: pair k of graph b is real iff k < n_b)."""
    from torch_geometric.utils import to_dense_adj, to_dense_batch

    vecs, node_mask = to_dense_batch(batch.eig_vecs, batch.batch, batch_size=batch.num_graphs)
    adj = to_dense_adj(batch.edge_index, batch.batch, max_num_nodes=vecs.size(1), batch_size=batch.num_graphs)
    # The undirected simple graph the eigenpairs are of: symmetric, no self-loops, a duplicated edge counted once.
    adj = ((adj + adj.transpose(1, 2)) > 0).to(vecs.dtype)
    adj = adj * (1 - torch.eye(adj.size(1), dtype=adj.dtype, device=adj.device))
    counts = node_mask.sum(1)
    k = batch.eig_vals.size(1)
    pair_mask = torch.arange(k, device=vecs.device)[None, :] < counts[:, None]
    return vecs, batch.eig_vals, adj, node_mask, pair_mask


class SignNetEncoder(nn.Module):
    """SignNet (Lim et al., ICLR 2023, Sec. 3): per node, rho(concat_k [phi(v_k, l_k) + phi(-v_k, l_k)]).

    forward(batch with eig_vecs [N, K], eig_vals [B, K]) -> [N, dim]. phi runs on v and -v in one pass, so even
    in training its signals are the same set under any sign flip."""

    def __init__(self, k: int, dim: int, layers: int, hidden: int, channels: int, rho_hidden: int) -> None:
        super().__init__()
        self.phi = DenseGIN(2, hidden, channels, layers)
        self.rho = nn.Sequential(nn.Linear(k * channels, rho_hidden), nn.ReLU(), nn.Linear(rho_hidden, dim))

    def forward(self, batch) -> Tensor:
        vecs, vals, adj, node_mask, pair_mask = _dense(batch)
        b, n, k = vecs.shape
        lam = vals[:, None, :].expand(b, n, k)
        signals = torch.stack([torch.cat([vecs, -vecs], 2), torch.cat([lam, lam], 2)], -1)  # [B, n, 2K, 2]
        out = self.phi(signals, adj)  # [B, n, 2K, channels]
        out = (out[:, :, :k] + out[:, :, k:]) * pair_mask[:, None, :, None]
        return self.rho(out.reshape(b, n, -1))[node_mask]


class SPEEncoder(nn.Module):
    """SPE (Huang et al., ICLR 2024, Sec. 3, Eq. 2): rho(V diag(psi_1(l)) V^T, ..., V diag(psi_m(l)) V^T).

    forward(batch with eig_vecs [N, K], eig_vals [B, K]) -> [N, dim]. Cost per graph: n^2 * m for the
    matrices, n^2 * hidden per GIN layer."""

    def __init__(self, dim: int, layers: int, hidden: int, channels: int, psi_hidden: int) -> None:
        super().__init__()
        self.psi = nn.ModuleList(
            nn.Sequential(nn.Linear(1, psi_hidden), nn.ReLU(), nn.Linear(psi_hidden, psi_hidden), nn.ReLU(),
                          nn.Linear(psi_hidden, 1)) for _ in range(channels))
        self.rho = DenseGIN(channels, hidden, dim, layers)

    def forward(self, batch) -> Tensor:
        vecs, vals, adj, node_mask, pair_mask = _dense(batch)
        z = torch.cat([psi(vals.unsqueeze(-1)) for psi in self.psi], -1)  # [B, K, m], psi_l per eigenvalue
        z = z * pair_mask.unsqueeze(-1)  # padded pairs weigh 0 in every V diag(z_l) V^T
        w = torch.einsum("bik,bkl,bjk->bijl", vecs, z, vecs)  # [B, n, n, m]
        out = self.rho(w, adj) * node_mask[:, None, :, None]  # [B, n (node i), n (anchor j), dim]
        return out.sum(2)[node_mask]


class SpectralPE(nn.Module):
    """An encoder's output [N, dim] mapped to the model width: [N, hidden]."""

    def __init__(self, encoder: nn.Module, dim: int, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(dim, hidden)

    def forward(self, batch) -> Tensor:
        return self.proj(self.encoder(batch))


def spectral_encoder(info: TaskInfo, hidden: int, pe: str, pe_args: dict[str, Any] | None) -> SpectralPE:
    """The `pe` encoder ('signnet' or 'spe') with `pe_args` over its defaults (`SETTINGS`), -> [N, hidden]."""
    if pe not in SETTINGS:
        raise ValueError(f"pe '{pe}' is not known; use one of: {', '.join(SETTINGS)} (or leave pe out).")
    k = info.extras.get("eig")
    if not k:
        raise ValueError(f"pe: {pe} reads the graph's eigenpairs; add 'eig:16' to the model spec's transforms.")
    defaults = SETTINGS[pe]
    unknown = sorted(set(pe_args or {}) - set(defaults))
    if unknown:
        raise ValueError(f"pe_args: {', '.join(unknown)} not known for pe: {pe}; its settings are "
                         + "; ".join(f"{name} ({what}, default {d})" for name, (d, what) in defaults.items()) + ".")
    args = {name: int((pe_args or {}).get(name, d)) for name, (d, _) in defaults.items()}
    if pe == "signnet":
        encoder: nn.Module = SignNetEncoder(k, **args)
    else:
        encoder = SPEEncoder(**args)
    return SpectralPE(encoder, args["dim"], hidden)
