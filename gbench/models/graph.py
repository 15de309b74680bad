"""Graph-level baselines: GIN, GCN, GAT and GPS over one shared encoder/readout, following the model contract:
`factory(info, **hparams)` and `model(batch) -> Tensor[num_graphs, info.out_dim]`.

Inputs: node features `x` (float, or categorical ids embedded with OGB's AtomEncoder when
`info.extras['categorical_features']`), optional edge features, and positional encodings added by the model
spec's transforms (`lap_pe`, `rw_pe`; their width is in `info.extras`), or learned from the `eig` transform's
eigenpairs by SignNet or SPE (hyperparameters `pe` and `pe_args`, gbench/models/pe.py). A graph without features
(x is None) starts from a learned constant vector.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gbench.models.contract import TaskInfo
from gbench.models.pe import spectral_encoder
from gbench.ogb_import import import_ogb

Readout = Literal["sum", "mean", "max"]


READOUTS = ("sum", "mean", "max")


def readout_pool(readout: str) -> Callable[..., Tensor]:
    """The PyG global pooling a model's `readout` names: `pool(h, batch_index, size=num_graphs)`. Every graph-level
    model takes it from here, so a misspelt readout fails when the model is built, not at its first batch."""
    from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

    pools = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}
    if readout not in pools:
        raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got '{readout}'")
    return pools[readout]


class InputEncoder(nn.Module):
    """Node features -> [num_nodes, width]: OGB's AtomEncoder for categorical atom features, a linear map for float
    features, and one learned vector for every node where the task has no features."""

    def __init__(self, info: TaskInfo, width: int) -> None:
        super().__init__()
        if info.extras.get("categorical_features"):
            AtomEncoder = import_ogb("ogb.graphproppred.mol_encoder").AtomEncoder

            self.x_enc: nn.Module | None = AtomEncoder(width)
        elif info.num_features > 0:
            self.x_enc = nn.Linear(info.num_features, width)
        else:
            self.x_enc = None
            self.const = nn.Parameter(torch.zeros(width))

    def forward(self, batch) -> Tensor:
        if self.x_enc is not None:
            return self.x_enc(batch.x)
        return self.const.expand(batch.num_nodes, -1)


class NodeEncoder(InputEncoder):
    """x (and positional encodings) -> [num_nodes, hidden]. Laplacian eigenvectors get a random sign flip per
    eigenvector and forward pass in training (their sign is arbitrary). `pe` ('signnet' or 'spe', settings
    `pe_args`): a learned encoder of the `eig` transform's eigenpairs (gbench/models/pe.py), added likewise."""

    def __init__(self, info: TaskInfo, hidden: int, pe: str | None = None, pe_args: dict | None = None) -> None:
        super().__init__(info, hidden)
        extras = info.extras
        self.lap = nn.Linear(extras["lap_pe"], hidden) if extras.get("lap_pe") else None
        self.rw = nn.Linear(extras["rw_pe"], hidden) if extras.get("rw_pe") else None
        if pe_args and not pe:
            raise ValueError("pe_args is given without pe; set pe: signnet or pe: spe, or drop pe_args.")
        self.spectral = spectral_encoder(info, hidden, pe, pe_args) if pe else None

    def forward(self, batch) -> Tensor:
        h = super().forward(batch)
        if self.lap is not None:
            pe = batch.lap_pe
            if self.training:
                sign = torch.randint(0, 2, (1, pe.size(1)), device=pe.device) * 2 - 1
                pe = pe * sign
            h = h + self.lap(pe)
        if self.rw is not None:
            h = h + self.rw(batch.rw_pe)
        if self.spectral is not None:
            h = h + self.spectral(batch)
        return h


def _edge_encoder(info: TaskInfo, hidden: int, use: bool) -> nn.Module | None:
    if not use or not info.edge_dim:
        return None
    if info.extras.get("categorical_edges"):
        BondEncoder = import_ogb("ogb.graphproppred.mol_encoder").BondEncoder

        return BondEncoder(hidden)
    return nn.Linear(info.edge_dim, hidden)


def _mlp(a: int, b: int, norm: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b) if norm else nn.Identity(), nn.ReLU(), nn.Linear(b, b))


class GraphNet(nn.Module):
    """Encoder -> `layers` message-passing layers (each: conv, batch norm, ReLU, dropout, optional residual) ->
    optional L2 normalisation of the node states (`l2norm`, GraphGym's `gnn.l2norm`) -> readout -> head (an MLP
    of two linear layers, or one linear layer with `head_layers=1`, GraphGym's `layers_post_mp: 1`).
    `conv(hidden)` builds one layer; `edge` says whether it consumes edge features."""

    def __init__(self, info: TaskInfo, make_conv, hidden: int, layers: int, dropout: float, readout: Readout,
                 residual: bool, use_edge_attr: bool = False, gps: bool = False, layer_readout: bool = False,
                 pe: str | None = None, pe_args: dict | None = None, head_layers: int = 2,
                 l2norm: bool = False) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if head_layers not in (1, 2):
            raise ValueError(f"head_layers must be 1 or 2, got {head_layers}; set it so in the model spec.")
        self.encoder = NodeEncoder(info, hidden, pe, pe_args)
        # Xu et al.'s prediction layer (Eq. 4.2, and Errica et al.'s GIN): every layer's pooled representation,
        # the encoded input included, gets its own linear prediction; they are summed, with dropout on each.
        self.layer_readout = layer_readout
        if layer_readout:
            self.input_mlp = _mlp(hidden, hidden)
            self.layer_heads = nn.ModuleList(nn.Linear(hidden, info.out_dim) for _ in range(layers + 1))
        self.edge_enc = _edge_encoder(info, hidden, use_edge_attr)
        self.convs = nn.ModuleList(make_conv(hidden) for _ in range(layers))
        # GPSConv normalises inside; other layers get batch norm here.
        self.norms = nn.ModuleList(nn.Identity() if gps else nn.BatchNorm1d(hidden) for _ in range(layers))
        self.gps = gps
        self.dropout = dropout
        self.residual = residual
        self.readout, self.pool = readout, readout_pool(readout)
        self.l2norm = l2norm
        self.head = (nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                   nn.Linear(hidden, info.out_dim)) if head_layers == 2
                     else nn.Linear(hidden, info.out_dim))

    def forward(self, batch) -> Tensor:
        pool = self.pool
        h = self.encoder(batch)
        edge_attr = None
        if self.edge_enc is not None:
            edge_attr = self.edge_enc(batch.edge_attr)
        if self.layer_readout:
            return self._forward_layer_readout(h, batch, edge_attr, pool)
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
        if self.l2norm:
            h = F.normalize(h, p=2, dim=-1)
        return self.head(pool(h, batch.batch, size=batch.num_graphs))

    def _forward_layer_readout(self, h: Tensor, batch, edge_attr, pool) -> Tensor:
        h = F.relu(self.input_mlp(h))
        size = batch.num_graphs
        out = F.dropout(self.layer_heads[0](pool(h, batch.batch, size=size)), self.dropout, self.training)
        for conv, norm, head in zip(self.convs, self.norms, self.layer_heads[1:]):
            h = conv(h, batch.edge_index, edge_attr) if edge_attr is not None else conv(h, batch.edge_index)
            h = F.relu(norm(h))
            h_pooled = pool(h, batch.batch, size=size)
            out = out + F.dropout(head(h_pooled), self.dropout, self.training)
        return out


def _no_pe(pe: str | None) -> None:
    if pe:
        raise ValueError(f"pe: {pe} is not available with ogb_conv or virtual_node (OGB's molecule networks); "
                         "drop one of them.")


def gin(info: TaskInfo, hidden: int = 64, layers: int = 5, dropout: float = 0.5, readout: Readout = "sum",
        residual: bool = False, use_edge_attr: bool = False, train_eps: bool = False,
        layer_readout: bool = False, ogb_conv: bool = False, virtual_node: bool = False, pe: str | None = None,
        pe_args: dict | None = None, aggr: Literal["sum", "mean"] = "sum") -> nn.Module:
    """Graph isomorphism network (Xu et al., ICLR 2019): GIN-0 layers with 2-layer MLPs. `aggr: mean` averages the
    neighbours instead of summing them (not GIN as published: a what-if for size generalisation, as GPS's `local:
    gin-mean`; the MLP and parameters are GIN's). With edge features,
    GINE layers (Hu et al., ICLR 2020). `layer_readout`: Xu et al.'s and Errica et al.'s prediction from every
    layer (input MLP + `layers` GIN layers, each pooled and linearly mapped to the output, summed; dropout only
    there); otherwise the last layer's pooled representation goes through an MLP head. `ogb_conv` or
    `virtual_node`: OGB's molecule GIN instead (`OGBMolNet`: per-layer bond encoders, mean readout, linear head;
    `hidden` is OGB's emb_dim), with a virtual node when `virtual_node` (OGB's gin-virtual)."""
    from torch_geometric.nn import GINConv, GINEConv

    if aggr not in ("sum", "mean"):
        raise ValueError(f"gin: aggr '{aggr}' is not one of sum, mean; set it so in the model spec.")
    if ogb_conv or virtual_node:
        _no_pe(pe)
        if aggr != "sum":
            raise ValueError("gin: aggr: mean is not available with ogb_conv or virtual_node; drop one of them.")
        return OGBMolNet(info, "gin", layers, hidden, dropout, virtual_node, readout)
    neighbours = "add" if aggr == "sum" else "mean"

    def make(h: int) -> nn.Module:
        if use_edge_attr and info.edge_dim:
            return GINEConv(_mlp(h, h), train_eps=train_eps, aggr=neighbours)
        return GINConv(_mlp(h, h), train_eps=train_eps, aggr=neighbours)

    return GraphNet(info, make, hidden, layers, dropout, readout, residual, use_edge_attr,
                    layer_readout=layer_readout, pe=pe, pe_args=pe_args)


def gcn(info: TaskInfo, hidden: int = 64, layers: int = 4, dropout: float = 0.5, readout: Readout = "mean",
        residual: bool = False, ogb_conv: bool = False, virtual_node: bool = False, pe: str | None = None,
        pe_args: dict | None = None, head_layers: int = 2, l2norm: bool = False, conv_bias: bool = True
        ) -> nn.Module:
    """Graph convolutions (Kipf & Welling, ICLR 2017) with a graph readout. `ogb_conv` / `virtual_node`: OGB's
    molecule GCN (`OGBMolNet`, bond features in every convolution), as `gin`. `head_layers`, `l2norm`: as
    `GraphNet`; `conv_bias=False`: no bias in the convolutions (GraphGym's, where batch norm follows, which makes
    a bias inert: only the parameter count changes)."""
    from torch_geometric.nn import GCNConv

    if ogb_conv or virtual_node:
        _no_pe(pe)
        if head_layers != 2 or l2norm or not conv_bias:
            raise ValueError("head_layers, l2norm and conv_bias are not available with ogb_conv or virtual_node "
                             "(OGB's molecule networks); drop one of them.")
        return OGBMolNet(info, "gcn", layers, hidden, dropout, virtual_node, readout)

    return GraphNet(info, lambda h: GCNConv(h, h, bias=conv_bias), hidden, layers, dropout, readout, residual, pe=pe,
                    pe_args=pe_args, head_layers=head_layers, l2norm=l2norm)


def gat(info: TaskInfo, hidden: int = 64, heads: int = 4, layers: int = 4, dropout: float = 0.5,
        readout: Readout = "mean", residual: bool = False, pe: str | None = None,
        pe_args: dict | None = None) -> nn.Module:
    """Graph attention (Veličković et al., ICLR 2018): `heads` heads of hidden/heads units, concatenated."""
    from torch_geometric.nn import GATConv

    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
    return GraphNet(info, lambda h: GATConv(h, h // heads, heads=heads), hidden, layers, dropout, readout, residual,
                    pe=pe, pe_args=pe_args)


def gps(info: TaskInfo, hidden: int = 64, layers: int = 4, heads: int = 4, dropout: float = 0.1,
        attn_dropout: float = 0.5, readout: Readout = "mean", use_edge_attr: bool = False, pe: str | None = None,
        pe_args: dict | None = None, local: Literal["gin", "gcn", "gin-mean"] = "gin") -> nn.Module:
    """GraphGPS (Rampášek et al., NeurIPS 2022): each layer sums a local GIN(E) update and global multi-head
    attention, with batch norm and an MLP (PyG's GPSConv). Positional encodings come from the spec's transforms.
    `local: gcn` swaps the GIN for a GCN layer (symmetric degree normalisation instead of GIN's neighbour sum) and
    `local: gin-mean` keeps GIN's MLP and parameters but averages the neighbours: what-ifs for size generalisation,
    not GraphGPS configurations; neither reads edge features."""
    from torch_geometric.nn import GCNConv, GINConv, GINEConv, GPSConv

    if local not in ("gin", "gcn", "gin-mean"):
        raise ValueError(f"gps: local '{local}' is not one of gin, gcn, gin-mean; set it so in the model spec.")
    if local != "gin" and use_edge_attr:
        raise ValueError(f"gps: local '{local}' reads no edge features; drop use_edge_attr or use local 'gin'.")

    def make(h: int) -> nn.Module:
        if local == "gcn":
            conv: nn.Module = GCNConv(h, h)
        elif use_edge_attr and info.edge_dim:
            conv = GINEConv(_mlp(h, h, norm=False))
        else:
            conv = GINConv(_mlp(h, h, False), aggr="mean" if local == "gin-mean" else "add")
        return GPSConv(h, conv, heads=heads, dropout=dropout, attn_kwargs={"dropout": attn_dropout})

    return GraphNet(info, make, hidden, layers, dropout, readout, residual=False, use_edge_attr=use_edge_attr,
                    gps=True, pe=pe, pe_args=pe_args)


class StructureAgnostic(nn.Module):
    """Errica et al.'s structure-agnostic baselines: the graph is the multiset of its node features, edges unused.

    `node_mlp=False` is their chemical baseline (MolecularFingerprint: an MLP over the sum of the node features);
    `node_mlp=True` their social one (DeepMultisets: a per-node linear + ReLU layer, summed, then the MLP).
    Categorical features (OGB atoms) are embedded with OGB's AtomEncoder first, which is then always per node.
    """

    def __init__(self, info: TaskInfo, hidden: int, node_mlp: bool) -> None:
        super().__init__()
        width = info.num_features
        self.atoms: nn.Module | None = None
        if info.extras.get("categorical_features"):
            AtomEncoder = import_ogb("ogb.graphproppred.mol_encoder").AtomEncoder

            self.atoms, width = AtomEncoder(hidden), hidden
        elif width == 0:
            raise ValueError("the structure-agnostic baseline needs node features; add degree_onehot to its transforms")
        self.node = nn.Sequential(nn.Linear(width, hidden), nn.ReLU()) if node_mlp else None
        width = hidden if node_mlp else width
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, info.out_dim))

    def forward(self, batch) -> Tensor:
        from torch_geometric.nn import global_add_pool

        x = batch.x if self.atoms is None else self.atoms(batch.x)
        if self.node is not None:
            x = self.node(x)
        return self.mlp(global_add_pool(x.float(), batch.batch, size=batch.num_graphs))


def structure_agnostic(info: TaskInfo, hidden: int = 128, node_mlp: bool = False) -> nn.Module:
    """Errica et al. (ICLR 2020) Sec. 4: a graph's summed node features through an MLP, no message passing."""
    return StructureAgnostic(info, hidden, node_mlp)


# ---------------------------------------------------------------------------------------------------------------
# OGB's molecule GNNs (examples/graphproppred/mol: gnn.py, conv.py), written against the same contract: the
# convolutions embed bond features with their own BondEncoder per layer, as OGB's do, so parameter counts match
# the leaderboard's rows (1,885,206 GIN, 527,701 GCN, 3,336,306 GIN+VN on ogbg-molhiv).


def _ogb_conv_classes():
    BondEncoder = import_ogb("ogb.graphproppred.mol_encoder").BondEncoder
    from torch_geometric.nn import MessagePassing
    from torch_geometric.utils import degree

    class OGBGINConv(MessagePassing):
        """h' = MLP((1 + eps) h + sum_j ReLU(h_j + bond(e_ij))), MLP 2-layer with a 2x-wide hidden layer."""

        def __init__(self, emb: int, bonds: bool) -> None:
            super().__init__(aggr="add")
            self.mlp = nn.Sequential(nn.Linear(emb, 2 * emb), nn.BatchNorm1d(2 * emb), nn.ReLU(),
                                     nn.Linear(2 * emb, emb))
            self.eps = nn.Parameter(torch.zeros(1))
            self.bond = BondEncoder(emb) if bonds else None

        def forward(self, x, edge_index, edge_attr):
            e = self.bond(edge_attr) if self.bond is not None else None
            return self.mlp((1 + self.eps) * x + self.propagate(edge_index, x=x, e=e))

        def message(self, x_j, e):
            return F.relu(x_j if e is None else x_j + e)

    class OGBGCNConv(MessagePassing):
        """Symmetric-normalised sum over neighbours of ReLU(W h_j + bond(e_ij)), plus a root term
        ReLU(W h + r) / deg, with deg counting the node itself."""

        def __init__(self, emb: int, bonds: bool) -> None:
            super().__init__(aggr="add")
            self.linear = nn.Linear(emb, emb)
            self.root = nn.Embedding(1, emb)
            self.bond = BondEncoder(emb) if bonds else None

        def forward(self, x, edge_index, edge_attr):
            x = self.linear(x)
            row, col = edge_index
            deg = degree(row, x.size(0), dtype=x.dtype) + 1
            inv = deg.pow(-0.5)
            norm = inv[row] * inv[col]
            e = self.bond(edge_attr) if self.bond is not None else None
            out = self.propagate(edge_index, x=x, e=e, norm=norm)
            return out + F.relu(x + self.root.weight) / deg.view(-1, 1)

        def message(self, x_j, e, norm):
            return norm.view(-1, 1) * F.relu(x_j if e is None else x_j + e)

    return OGBGINConv, OGBGCNConv


class OGBMolNet(nn.Module):
    """OGB's GNN for molecules: AtomEncoder, `layers` convolutions each followed by batch norm, ReLU (not after the
    last) and dropout, the last layer's node states mean-pooled, one linear layer to the tasks. With
    `virtual_node`, a virtual node joined to every node (Gilmer et al., 2017): its state is added to every node
    before each layer and updated from the summed node states by a 2-layer MLP between layers."""

    def __init__(self, info: TaskInfo, conv: str, layers: int, emb: int, dropout: float, virtual_node: bool,
                 readout: Readout) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError(f"layers must be >= 2, got {layers}")
        gin_conv, gcn_conv = _ogb_conv_classes()
        make = {"gin": gin_conv, "gcn": gcn_conv}[conv]
        # Off OGB's molecules, the same network over float features (or a constant), without edge features.
        self.atoms = NodeEncoder(info, emb)
        bonds = bool(info.extras.get("categorical_edges") and info.edge_dim)
        self.convs = nn.ModuleList(make(emb, bonds) for _ in range(layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(emb) for _ in range(layers))
        self.virtual: nn.Embedding | None = None
        if virtual_node:
            self.virtual = nn.Embedding(1, emb)
            nn.init.constant_(self.virtual.weight, 0.0)
            self.vn_mlps = nn.ModuleList(
                nn.Sequential(nn.Linear(emb, 2 * emb), nn.BatchNorm1d(2 * emb), nn.ReLU(),
                              nn.Linear(2 * emb, emb), nn.BatchNorm1d(emb), nn.ReLU()) for _ in range(layers - 1))
        self.dropout = dropout
        self.readout, self.pool = readout, readout_pool(readout)
        self.head = nn.Linear(emb, info.out_dim)

    def forward(self, batch) -> Tensor:
        from torch_geometric.nn import global_add_pool

        h = self.atoms(batch)
        size = batch.num_graphs
        vn = None
        if self.virtual is not None:
            vn = self.virtual(torch.zeros(size, dtype=torch.long, device=h.device))
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if vn is not None:
                h = h + vn[batch.batch]
            out = norm(conv(h, batch.edge_index, getattr(batch, "edge_attr", None)))
            out = F.dropout(out if i == last else F.relu(out), self.dropout, self.training)
            if vn is not None and i < last:
                pooled = global_add_pool(h, batch.batch, size=size) + vn
                vn = F.dropout(self._vn_update(i, pooled), self.dropout, self.training)
            h = out
        return self.head(self.pool(h, batch.batch, size=size))

    def _vn_update(self, i: int, pooled: Tensor) -> Tensor:
        """The virtual node's MLP. Batch norm cannot train on one graph; OGB's example skips such batches, here a
        one-graph batch (a training set of size 1 mod the batch size) uses the running statistics instead."""
        mlp = self.vn_mlps[i]
        if self.training and pooled.size(0) == 1:
            mlp.eval()
            try:
                return mlp(pooled)
            finally:
                mlp.train()
        return mlp(pooled)

