"""Graph-level message-passing baselines with edge features: GINE and GatedGCN, as LRGB (Dwivedi et al., NeurIPS
2022 D&B) runs them, following the model contract: `factory(info, **hparams)` and
`model(batch) -> Tensor[num_graphs, info.out_dim]`.

Both share one network (`EdgeMPNN`): node encoder (OGB's AtomEncoder for categorical atoms, a linear map for float
features, a learned constant without features; positional encodings added as `graph.NodeEncoder` does), one edge
encoder at the input (OGB's BondEncoder for categorical bonds, a linear map for float edge features), `layers`
message-passing layers of width `hidden`, each followed by ReLU, dropout and a residual connection, then a readout
and a head of `head_layers` linear layers. The edge encoder is shared by all layers, as in LRGB's GraphGym networks
(OGB's molecule GNNs, `graph.OGBMolNet`, give every layer its own bond encoder instead).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gbench.models.contract import TaskInfo
from gbench.models.graph import NodeEncoder, Readout, _edge_encoder, readout_pool


class GINELayer(nn.Module):
    """Hu et al. (ICLR 2020, "Strategies for Pre-training Graph Neural Networks"), GIN with edge features:
    h_i' = MLP((1 + eps) h_i + sum_{j -> i} ReLU(h_j + e_ji)), MLP = Linear-ReLU-Linear, eps = 0 (PyG's GINEConv).
    Then optional batch norm, ReLU, dropout and `h_i + h_i'` when residual. Without edge features, the message is
    h_j alone (Xu et al.'s GIN, PyG's GINConv). Edge states pass through unchanged.

    x: [num_nodes, hidden]; edge_index: [2, num_edges] (source, target); e: [num_edges, hidden] or None.
    """

    def __init__(self, hidden: int, dropout: float, residual: bool, batch_norm: bool, edges: bool) -> None:
        super().__init__()
        from torch_geometric.nn import GINConv, GINEConv

        mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.conv = GINEConv(mlp) if edges else GINConv(mlp)
        self.edges = edges
        self.norm = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.dropout = dropout
        self.residual = residual

    def forward(self, x: Tensor, edge_index: Tensor, e: Tensor | None) -> tuple[Tensor, Tensor | None]:
        out = self.conv(x, edge_index, e) if self.edges else self.conv(x, edge_index)
        out = F.dropout(F.relu(self.norm(out)), self.dropout, self.training)
        return (x + out if self.residual else out), e


class GatedGCNLayer(nn.Module):
    """Residual gated graph convolution (Bresson & Laurent 2017, arXiv 1711.07553) with edge states, batch norm
    and residual connections, as Dwivedi et al.'s "Benchmarking Graph Neural Networks" (arXiv 2003.00982, its
    GatedGCN with edge features) and LRGB define it. For an edge j -> i with states h_j, h_i, e_ji:

        ê_ji  = C e_ji + D h_i + E h_j                      (the new edge state, before normalisation)
        η_ji  = σ(ê_ji) / (Σ_{k -> i} σ(ê_ki) + 1e-6)       (the gate: a soft, per-channel attention over i's in-edges)
        h_i'  = h_i + Dropout(ReLU(BN(A h_i + Σ_{j -> i} η_ji ⊙ B h_j)))
        e_ji' = e_ji + Dropout(ReLU(BN(ê_ji)))

    (residual terms only when `residual`). A, B, C, D, E are linear maps with bias. The readout reads node states
    only, so the last layer's edge batch norm gets no gradient; it stays, as in LRGB's network and its count.

    x: [num_nodes, hidden]; edge_index: [2, num_edges] (source j, target i); e: [num_edges, hidden].
    """

    def __init__(self, hidden: int, dropout: float, residual: bool, batch_norm: bool = True) -> None:
        super().__init__()
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(hidden, hidden) for _ in range(5))
        self.norm_x = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.norm_e = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.dropout = dropout
        self.residual = residual

    def forward(self, x: Tensor, edge_index: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        from torch_geometric.utils import scatter

        src, dst = edge_index
        e_hat = self.C(e) + self.D(x)[dst] + self.E(x)[src]
        sigma = torch.sigmoid(e_hat)
        n = x.size(0)
        num = scatter(sigma * self.B(x)[src], dst, dim=0, dim_size=n, reduce="sum")
        den = scatter(sigma, dst, dim=0, dim_size=n, reduce="sum")
        h = self.A(x) + num / (den + 1e-6)
        h = F.dropout(F.relu(self.norm_x(h)), self.dropout, self.training)
        e_new = F.dropout(F.relu(self.norm_e(e_hat)), self.dropout, self.training)
        if self.residual:
            return x + h, e + e_new
        return h, e_new


class EdgeMPNN(nn.Module):
    """Node and edge encoders -> message-passing layers that read (and GatedGCN's also update) edge states ->
    readout -> head. `make_layer()` builds one layer `(x, edge_index, e) -> (x', e')`. `edge_states`: the layers
    need an edge state even where the task has no edge features (GatedGCN), so a learned constant vector stands in
    for them."""

    def __init__(self, info: TaskInfo, make_layer, hidden: int, layers: int, readout: Readout, head_layers: int,
                 dropout: float, edge_states: bool) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if head_layers < 1:
            raise ValueError(f"head_layers must be >= 1, got {head_layers}")
        self.encoder = NodeEncoder(info, hidden)
        self.edge_enc = _edge_encoder(info, hidden, use=True)
        self.edge_const = nn.Parameter(torch.zeros(hidden)) if edge_states and self.edge_enc is None else None
        self.layers = nn.ModuleList(make_layer() for _ in range(layers))
        self.readout, self.pool = readout, readout_pool(readout)
        # LRGB's head (GraphGym's layers_post_mp): `head_layers - 1` Linear-ReLU-Dropout blocks, then a linear map.
        head: list[nn.Module] = []
        for _ in range(head_layers - 1):
            head += [nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
        self.head = nn.Sequential(*head, nn.Linear(hidden, info.out_dim))

    def node_states(self, batch) -> Tensor:
        """[num_nodes, hidden]: the node states after the last layer."""
        h = self.encoder(batch)
        if self.edge_enc is not None:
            e = self.edge_enc(batch.edge_attr)
        elif self.edge_const is not None:
            e = self.edge_const.expand(batch.edge_index.size(1), -1)
        else:
            e = None
        for layer in self.layers:
            h, e = layer(h, batch.edge_index, e)
        return h

    def forward(self, batch) -> Tensor:
        return self.head(self.pool(self.node_states(batch), batch.batch, size=batch.num_graphs))


def gine(info: TaskInfo, hidden: int = 64, layers: int = 5, dropout: float = 0.0, readout: Readout = "mean",
         residual: bool = True, batch_norm: bool = False, head_layers: int = 1) -> nn.Module:
    """GINE (Hu et al., ICLR 2020): GIN layers whose messages add the neighbour's state and the encoded edge
    features, `ReLU(h_j + e_ji)`; LRGB's layer (no batch norm unless `batch_norm`, then ReLU, dropout, residual).
    On a task without edge features the layers are GIN layers."""
    edges = bool(info.edge_dim)
    return EdgeMPNN(info, lambda: GINELayer(hidden, dropout, residual, batch_norm, edges), hidden, layers, readout,
                    head_layers, dropout, edge_states=False)


def gatedgcn(info: TaskInfo, hidden: int = 64, layers: int = 5, dropout: float = 0.0, readout: Readout = "mean",
             residual: bool = True, batch_norm: bool = True, head_layers: int = 1) -> nn.Module:
    """GatedGCN (Bresson & Laurent 2017) with edge states updated every layer, batch norm and residual connections,
    in the form of Dwivedi et al.'s benchmarking-gnns and LRGB (`GatedGCNLayer`). On a task without edge features
    the edge states start from one learned vector shared by all edges."""
    return EdgeMPNN(info, lambda: GatedGCNLayer(hidden, dropout, residual, batch_norm), hidden, layers, readout,
                    head_layers, dropout, edge_states=True)
