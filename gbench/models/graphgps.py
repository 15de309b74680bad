"""GraphGPS as its authors configure it for LRGB's Peptides-func (Rampášek et al., NeurIPS 2022; the repository
rampasek/GraphGPS, configs/GPS/peptides-func-GPS.yaml), re-implemented from that paper and code, following the
model contract: `factory(info, **hparams)` and `model(batch) -> Tensor[num_graphs, info.out_dim]`.

gbench's `gps` (gbench/models/graph.py) is PyG's GPSConv with a GIN local model, sized for a CPU. This is the
network of the paper's Peptides-func row (0.6535 ± 0.0041):

- node input: OGB's AtomEncoder to `hidden - pe_dim` channels, concatenated with a LapPE of `pe_dim` channels
  (`LapPEDeepSet`: GraphGPS's LapPENodeEncoder, model DeepSet); edge input: OGB's BondEncoder to `hidden`;
- `layers` GPS layers (`GPSLayer`, GraphGPS's GPSLayer with local model CustomGatedGCN and global model
  Transformer): a GatedGCN layer (gbench/models/mpnn.py, residual, batch norm and dropout inside) whose output is
  batch-normalised again, and multi-head attention over every pair of nodes of each graph with attention dropout,
  a residual connection and batch norm; the two are summed, then a feed-forward block (hidden -> 2 hidden ->
  hidden, ReLU) with a residual connection and batch norm. The GatedGCN layer's edge states carry to the next;
- mean pooling and one linear layer (GraphGym's graph head with `layers_post_mp: 1`).

With `local: none` the GPS layer has no local model (GraphGPS's `layer_type: None+Transformer`): attention, its
residual and batch norm, then the feed-forward block. That is LRGB's Transformer+LapPE (the `transformer-lappe`
spec), whose Bond edge encoder and first batch norm of each layer are built by GraphGPS but never read; they are
not built here.

The LapPE reads the `eig:K:comb` transform's eigenpairs of the combinatorial Laplacian D - A (`laplacian_norm:
none`, `max_freqs: 10`): for each node and eigenpair k, (v_k[node], lambda_k) -> Linear(2, 2 pe_dim) -> ReLU ->
Linear(2 pe_dim, pe_dim) -> ReLU, padded pairs (k >= the graph's node count) zeroed, then summed over k. In
training every eigenvector's sign is flipped at random, one draw per eigenvector index for the whole batch, as
GraphGPS draws it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gbench.models.contract import TaskInfo
from gbench.models.graph import InputEncoder, _edge_encoder, readout_pool
from gbench.models.mpnn import GatedGCNLayer


class LapPEDeepSet(nn.Module):
    """Node -> [pe_dim]: GraphGPS's LapPE with a DeepSet over the node's (eigenvector entry, eigenvalue) pairs.
    `layers` 1: Linear(2, pe_dim), ReLU; 2 or more: Linear(2, 2 pe_dim), ReLU, (Linear(2 pe_dim, 2 pe_dim),
    ReLU) x (layers - 2), Linear(2 pe_dim, pe_dim), ReLU, as GraphGPS builds it."""

    def __init__(self, k: int, pe_dim: int, layers: int) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"pe_layers must be >= 1, got {layers}")
        self.k = k
        if layers == 1:
            self.net = nn.Sequential(nn.Linear(2, pe_dim), nn.ReLU())
        else:
            mid: list[nn.Module] = []
            for _ in range(layers - 2):
                mid += [nn.Linear(2 * pe_dim, 2 * pe_dim), nn.ReLU()]
            self.net = nn.Sequential(nn.Linear(2, 2 * pe_dim), nn.ReLU(), *mid, nn.Linear(2 * pe_dim, pe_dim),
                                     nn.ReLU())

    def forward(self, batch) -> Tensor:
        vecs, vals = batch.eig_vecs, batch.eig_vals[batch.batch]  # [N, K] each: a node's graph's eigenvalues
        counts = torch.bincount(batch.batch, minlength=batch.num_graphs)[batch.batch]  # the node's graph size
        real = torch.arange(self.k, device=vecs.device)[None, :] < counts[:, None]  # [N, K]
        if self.training:
            vecs = vecs * (torch.randint(0, 2, (1, self.k), device=vecs.device) * 2 - 1)
        pairs = torch.stack([vecs, vals], dim=-1) * real[..., None]  # padded pairs enter as zeros
        return (self.net(pairs) * real[..., None]).sum(1)


class GPSLayer(nn.Module):
    """One GraphGPS layer with local GatedGCN (none with `local=False`) and global multi-head attention (see the
    module docstring). forward(x [N, hidden], e [E, hidden] or None, edge_index, batch vector) -> (x', e')."""

    def __init__(self, hidden: int, heads: int, dropout: float, attn_dropout: float, local: bool = True) -> None:
        super().__init__()
        self.local = GatedGCNLayer(hidden, dropout, residual=True, batch_norm=True) if local else None
        self.norm_local = nn.BatchNorm1d(hidden) if local else None
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=attn_dropout, batch_first=True)
        self.norm_attn, self.norm_out = nn.BatchNorm1d(hidden), nn.BatchNorm1d(hidden)
        self.ff1, self.ff2 = nn.Linear(hidden, 2 * hidden), nn.Linear(2 * hidden, hidden)
        self.dropout = dropout

    def forward(self, x: Tensor, e: Tensor | None, edge_index: Tensor, batch: Tensor) -> tuple[Tensor, Tensor | None]:
        from torch_geometric.utils import to_dense_batch

        h_local = None
        if self.local is not None:
            h_local, e = self.local(x, edge_index, e)
            h_local = self.norm_local(h_local)
        dense, mask = to_dense_batch(x, batch)
        h_attn = self.attn(dense, dense, dense, key_padding_mask=~mask, need_weights=False)[0][mask]
        h_attn = self.norm_attn(x + F.dropout(h_attn, self.dropout, self.training))
        h = h_attn if h_local is None else h_local + h_attn
        ff = F.dropout(F.relu(self.ff1(h)), self.dropout, self.training)
        h = self.norm_out(h + F.dropout(self.ff2(ff), self.dropout, self.training))
        return h, e


class GraphGPS(nn.Module):
    """Atom (or feature) encoder + LapPE -> GPS layers -> readout -> linear head (see the module docstring)."""

    def __init__(self, info: TaskInfo, hidden: int, layers: int, heads: int, dropout: float, attn_dropout: float,
                 pe_dim: int, pe_layers: int, readout: str, local: str = "gatedgcn") -> None:
        super().__init__()
        k = info.extras.get("eig")
        if not k:
            raise ValueError("graphgps reads Laplacian eigenpairs: add the transform eig:K:comb (GraphGPS: "
                             "eig:10:comb) to the model spec's transforms.")
        if not 0 < pe_dim < hidden or hidden % heads:
            raise ValueError(f"graphgps needs 0 < pe_dim < hidden and hidden divisible by heads; got pe_dim "
                             f"{pe_dim}, hidden {hidden}, heads {heads}.")
        if local not in ("gatedgcn", "none"):
            raise ValueError(f"graphgps: local '{local}' is not one of gatedgcn, none; set it so in the model spec.")
        self.pool = readout_pool(readout)
        self.features = InputEncoder(info, hidden - pe_dim)
        self.pe = LapPEDeepSet(k, pe_dim, pe_layers)
        self.uses_edges = local == "gatedgcn"  # attention alone never reads edge states
        self.edge_enc = _edge_encoder(info, hidden, use=True) if self.uses_edges else None
        self.edge_const = nn.Parameter(torch.zeros(hidden)) if self.uses_edges and self.edge_enc is None else None
        self.layers = nn.ModuleList(GPSLayer(hidden, heads, dropout, attn_dropout, local=self.uses_edges)
                                    for _ in range(layers))
        self.head = nn.Linear(hidden, info.out_dim)

    def forward(self, batch) -> Tensor:
        h = torch.cat([self.features(batch).float(), self.pe(batch)], dim=1)
        if self.edge_enc is not None:
            e = self.edge_enc(batch.edge_attr)
        elif self.edge_const is not None:
            e = self.edge_const.expand(batch.edge_index.size(1), -1)
        else:
            e = None
        for layer in self.layers:
            h, e = layer(h, e, batch.edge_index, batch.batch)
        return self.head(self.pool(h, batch.batch, size=batch.num_graphs))


def graphgps(info: TaskInfo, hidden: int = 96, layers: int = 4, heads: int = 4, dropout: float = 0.0,
             attn_dropout: float = 0.5, pe_dim: int = 16, pe_layers: int = 2, readout: str = "mean",
             local: Literal["gatedgcn", "none"] = "gatedgcn") -> nn.Module:
    """GraphGPS with GatedGCN + Transformer layers (`local: none`: Transformer layers alone) and a DeepSet LapPE;
    the defaults are GraphGPS's peptides-func-GPS.yaml (dim_hidden 96, 4 layers, 4 heads, dropout 0, attention
    dropout 0.5, LapPE dim_pe 16 with 2 DeepSet layers, mean pooling)."""
    return GraphGPS(info, hidden, layers, heads, dropout, attn_dropout, pe_dim, pe_layers, readout, local)
