"""Graph-level baselines: GIN, GCN, GAT and GPS over one shared encoder/readout, following the model contract:
`factory(info, **hparams)` and `model(batch) -> Tensor[num_graphs, info.out_dim]`.

Inputs: node features `x` (float, or categorical ids embedded with OGB's AtomEncoder when
`info.extras['categorical_features']`), optional edge features, and positional encodings added by the model
spec's transforms (`lap_pe`, `rw_pe`; their width is in `info.extras`). A graph without features (x is None)
starts from a learned constant vector.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gbench.models.contract import TaskInfo

Readout = Literal["sum", "mean", "max"]


class NodeEncoder(nn.Module):
    """x (and positional encodings) -> [num_nodes, hidden]. Laplacian eigenvectors get a random sign flip per
    eigenvector and forward pass in training (their sign is arbitrary)."""

    def __init__(self, info: TaskInfo, hidden: int) -> None:
        super().__init__()
        extras = info.extras
        if extras.get("categorical_features"):
            from ogb.graphproppred.mol_encoder import AtomEncoder

            self.x_enc: nn.Module | None = AtomEncoder(hidden)
        elif info.num_features > 0:
            self.x_enc = nn.Linear(info.num_features, hidden)
        else:
            self.x_enc = None
            self.const = nn.Parameter(torch.zeros(hidden))
        self.lap = nn.Linear(extras["lap_pe"], hidden) if extras.get("lap_pe") else None
        self.rw = nn.Linear(extras["rw_pe"], hidden) if extras.get("rw_pe") else None

    def forward(self, batch) -> Tensor:
        if self.x_enc is not None:
            h = self.x_enc(batch.x)
        else:
            h = self.const.expand(batch.num_nodes, -1)
        if self.lap is not None:
            pe = batch.lap_pe
            if self.training:
                sign = torch.randint(0, 2, (1, pe.size(1)), device=pe.device) * 2 - 1
                pe = pe * sign
            h = h + self.lap(pe)
        if self.rw is not None:
            h = h + self.rw(batch.rw_pe)
        return h


def _edge_encoder(info: TaskInfo, hidden: int, use: bool) -> nn.Module | None:
    if not use or not info.edge_dim:
        return None
    if info.extras.get("categorical_edges"):
        from ogb.graphproppred.mol_encoder import BondEncoder

        return BondEncoder(hidden)
    return nn.Linear(info.edge_dim, hidden)


def _mlp(a: int, b: int, norm: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b) if norm else nn.Identity(), nn.ReLU(), nn.Linear(b, b))


class GraphNet(nn.Module):
    """Encoder -> `layers` message-passing layers (each: conv, batch norm, ReLU, dropout, optional residual) ->
    readout -> MLP head. `conv(hidden)` builds one layer; `edge` says whether it consumes edge features."""

    def __init__(self, info: TaskInfo, make_conv, hidden: int, layers: int, dropout: float, readout: Readout,
                 residual: bool, use_edge_attr: bool = False, gps: bool = False) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.encoder = NodeEncoder(info, hidden)
        self.edge_enc = _edge_encoder(info, hidden, use_edge_attr)
        self.convs = nn.ModuleList(make_conv(hidden) for _ in range(layers))
        # GPSConv normalises inside; other layers get batch norm here.
        self.norms = nn.ModuleList(nn.Identity() if gps else nn.BatchNorm1d(hidden) for _ in range(layers))
        self.gps = gps
        self.dropout = dropout
        self.residual = residual
        self.readout = readout
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, info.out_dim))

    def forward(self, batch) -> Tensor:
        from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

        h = self.encoder(batch)
        edge_attr = None
        if self.edge_enc is not None:
            edge_attr = self.edge_enc(batch.edge_attr)
        for conv, norm in zip(self.convs, self.norms):
            if self.gps:
                out = conv(h, batch.edge_index, batch.batch, **({"edge_attr": edge_attr} if edge_attr is not None
                                                                 else {}))
            elif edge_attr is not None:
                out = conv(h, batch.edge_index, edge_attr)
            else:
                out = conv(h, batch.edge_index)
            if not self.gps:
                out = F.dropout(F.relu(norm(out)), self.dropout, self.training)
            h = h + out if self.residual and not self.gps else out
        pool = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}[self.readout]
        return self.head(pool(h, batch.batch, size=batch.num_graphs))


def gin(info: TaskInfo, hidden: int = 64, layers: int = 5, dropout: float = 0.5, readout: Readout = "sum",
        residual: bool = False, use_edge_attr: bool = False, train_eps: bool = False) -> nn.Module:
    """Graph isomorphism network (Xu et al., ICLR 2019): GIN-0 layers with 2-layer MLPs. With edge features,
    GINE layers (Hu et al., ICLR 2020)."""
    from torch_geometric.nn import GINConv, GINEConv

    def make(h: int) -> nn.Module:
        if use_edge_attr and info.edge_dim:
            return GINEConv(_mlp(h, h), train_eps=train_eps)
        return GINConv(_mlp(h, h), train_eps=train_eps)

    return GraphNet(info, make, hidden, layers, dropout, readout, residual, use_edge_attr)


def gcn(info: TaskInfo, hidden: int = 64, layers: int = 4, dropout: float = 0.5, readout: Readout = "mean",
        residual: bool = False) -> nn.Module:
    """Graph convolutions (Kipf & Welling, ICLR 2017) with a graph readout."""
    from torch_geometric.nn import GCNConv

    return GraphNet(info, lambda h: GCNConv(h, h), hidden, layers, dropout, readout, residual)


def gat(info: TaskInfo, hidden: int = 64, heads: int = 4, layers: int = 4, dropout: float = 0.5,
        readout: Readout = "mean", residual: bool = False) -> nn.Module:
    """Graph attention (Veličković et al., ICLR 2018): `heads` heads of hidden/heads units, concatenated."""
    from torch_geometric.nn import GATConv

    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
    return GraphNet(info, lambda h: GATConv(h, h // heads, heads=heads), hidden, layers, dropout, readout, residual)


def gps(info: TaskInfo, hidden: int = 64, layers: int = 4, heads: int = 4, dropout: float = 0.1,
        attn_dropout: float = 0.5, readout: Readout = "mean", use_edge_attr: bool = False) -> nn.Module:
    """GraphGPS (Rampášek et al., NeurIPS 2022): each layer sums a local GIN(E) update and global multi-head
    attention, with batch norm and an MLP (PyG's GPSConv). Positional encodings come from the spec's transforms."""
    from torch_geometric.nn import GINConv, GINEConv, GPSConv

    def make(h: int) -> nn.Module:
        local = GINEConv(_mlp(h, h, norm=False)) if use_edge_attr and info.edge_dim else GINConv(_mlp(h, h, False))
        return GPSConv(h, local, heads=heads, dropout=dropout, attn_kwargs={"dropout": attn_dropout})

    return GraphNet(info, make, hidden, layers, dropout, readout, residual=False, use_edge_attr=use_edge_attr,
                    gps=True)
