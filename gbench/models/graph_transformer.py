"""Graph Transformer (Dwivedi & Bresson, "A Generalization of Transformer Networks to Graphs", AAAI-21 DLG
workshop, arXiv 2012.09699), written against the model contract: `graph_transformer(info, **hparams)` and
`model(batch) -> Tensor[num_graphs, info.out_dim]`.

What makes it the paper's model rather than a transformer over all node pairs:
- attention of node i is a softmax over its incoming edges j -> i only (no attention outside the neighbourhood,
  and none to i itself unless the graph has a self-loop), Eq. (3)-(4) of the paper;
- Laplacian eigenvectors added to the input embedding, their signs flipped at random in training (the `lap_pe`
  transform and `gbench.models.graph.NodeEncoder`);
- batch norm after each of the two residual connections (the paper's better variant; layer norm is an option);
- with edge features (`use_edge_attr` and a task with `edge_dim`), the paper's edge variant: the projected edge
  state scales each dimension of the query-key product before the heads' sums, and edges carry their own state
  through the layers (O_e, FFN_e, and their norms).

Shapes: N nodes, E directed edges, H heads, d = hidden / H per head.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gbench.models.contract import TaskInfo
from gbench.models.graph import NodeEncoder, Readout, _edge_encoder, readout_pool

Norm = Literal["batch", "layer", "none"]


def _norm(kind: Norm, width: int) -> nn.Module:
    return {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[kind](width) if kind != "none" else nn.Identity()


class NeighbourAttention(nn.Module):
    """Multi-head attention of each node over its incoming edges (Eq. 3-4; with edges, Eq. 9-10 of the paper).

    forward(h [N, hidden], edge_index [2, E] (row 0 source j, row 1 target i), e [E, hidden] or None)
    -> (node update [N, hidden], per-edge score vectors [E, hidden] or None, attention weights [E, H]).
    The weights of the edges into one node sum to 1 over each head; a node without incoming edges gets 0.
    """

    def __init__(self, hidden: int, heads: int, edges: bool) -> None:
        super().__init__()
        self.heads, self.dim = heads, hidden // heads
        # No biases on Q, K, V (and E): the paper's equations are linear maps.
        self.q = nn.Linear(hidden, hidden, bias=False)
        self.k = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, hidden, bias=False)
        self.e = nn.Linear(hidden, hidden, bias=False) if edges else None

    def forward(self, h: Tensor, edge_index: Tensor, e: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor]:
        from torch_geometric.utils import softmax

        n = h.size(0)
        src, dst = edge_index
        q = self.q(h).view(n, self.heads, self.dim)
        k = self.k(h).view(n, self.heads, self.dim)
        v = self.v(h).view(n, self.heads, self.dim)
        # Per-dimension products q_i * k_j / sqrt(d), [E, H, d]; the edge variant scales them by E e_ij.
        w_hat = q[dst] * k[src] / math.sqrt(self.dim)
        if self.e is not None and e is not None:
            w_hat = w_hat * self.e(e).view(-1, self.heads, self.dim)
        alpha = softmax(w_hat.sum(-1), dst, num_nodes=n)  # [E, H], normalised over the edges into each node
        out = torch.zeros_like(v).index_add_(0, dst, alpha.unsqueeze(-1) * v[src])
        e_out = w_hat.reshape(-1, self.heads * self.dim) if self.e is not None and e is not None else None
        return out.reshape(n, -1), e_out, alpha


class GraphTransformerLayer(nn.Module):
    """One layer of the paper (Fig. 1): attention, O projection, dropout, residual, norm; FFN (hidden -> 2 hidden
    -> hidden, ReLU), residual, norm. The edge stream, when there is one, goes through the same steps, except in
    the last layer (`update_edges=False`), whose edge states nothing reads."""

    def __init__(self, hidden: int, heads: int, dropout: float, norm: Norm, residual: bool, edges: bool,
                 update_edges: bool = True) -> None:
        super().__init__()
        self.attn = NeighbourAttention(hidden, heads, edges)
        self.dropout, self.residual = dropout, residual
        self.o_h = nn.Linear(hidden, hidden)
        self.norm1_h, self.norm2_h = _norm(norm, hidden), _norm(norm, hidden)
        self.ffn_h = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Dropout(dropout),
                                   nn.Linear(2 * hidden, hidden))
        self.edges = edges and update_edges
        if self.edges:
            self.o_e = nn.Linear(hidden, hidden)
            self.norm1_e, self.norm2_e = _norm(norm, hidden), _norm(norm, hidden)
            self.ffn_e = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Dropout(dropout),
                                       nn.Linear(2 * hidden, hidden))

    def _block(self, x: Tensor, update: Tensor, o: nn.Module, norm1: nn.Module, ffn: nn.Module,
               norm2: nn.Module) -> Tensor:
        y = o(F.dropout(update, self.dropout, self.training))
        y = norm1(x + y if self.residual else y)
        z = ffn(y)
        return norm2(y + z if self.residual else z)

    def forward(self, h: Tensor, edge_index: Tensor, e: Tensor | None) -> tuple[Tensor, Tensor | None]:
        h_upd, e_upd, _ = self.attn(h, edge_index, e)
        h = self._block(h, h_upd, self.o_h, self.norm1_h, self.ffn_h, self.norm2_h)
        if self.edges and e is not None and e_upd is not None:
            e = self._block(e, e_upd, self.o_e, self.norm1_e, self.ffn_e, self.norm2_e)
        return h, e


class GraphTransformer(nn.Module):
    """Input embedding (+ LapPE) -> `layers` GraphTransformerLayers -> graph readout -> MLP head.

    `node_states(batch) -> [N, hidden]` are the last layer's node representations (permutation-equivariant);
    `forward(batch) -> [num_graphs, out_dim]` pools them with `readout` and applies the head.
    """

    def __init__(self, info: TaskInfo, hidden: int, layers: int, heads: int, dropout: float,
                 in_feat_dropout: float, norm: Norm, residual: bool, readout: Readout, use_edge_attr: bool) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.encoder = NodeEncoder(info, hidden)
        self.edge_enc = _edge_encoder(info, hidden, use_edge_attr)
        edges = self.edge_enc is not None
        self.layers = nn.ModuleList(GraphTransformerLayer(hidden, heads, dropout, norm, residual, edges,
                                                          update_edges=i < layers - 1) for i in range(layers))
        self.in_feat_dropout = in_feat_dropout
        self.readout, self.pool = readout, readout_pool(readout)
        # The authors' readout MLP: two hidden layers halving the width, ReLU between.
        self.head = nn.Sequential(nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, hidden // 4),
                                  nn.ReLU(), nn.Linear(hidden // 4, info.out_dim))

    def node_states(self, batch) -> Tensor:
        h = F.dropout(self.encoder(batch), self.in_feat_dropout, self.training)
        e = self.edge_enc(batch.edge_attr) if self.edge_enc is not None else None
        for layer in self.layers:
            h, e = layer(h, batch.edge_index, e)
        return h

    def forward(self, batch) -> Tensor:
        return self.head(self.pool(self.node_states(batch), batch.batch, size=batch.num_graphs))


def graph_transformer(info: TaskInfo, hidden: int = 64, layers: int = 10, heads: int = 8, dropout: float = 0.0,
                      in_feat_dropout: float = 0.0, norm: Norm = "batch", residual: bool = True,
                      readout: Readout = "mean", use_edge_attr: bool = True) -> nn.Module:
    """Graph Transformer (Dwivedi & Bresson, 2020): neighbourhood-restricted multi-head attention, batch norm,
    LapPE from the spec's `lap_pe` transform. With `use_edge_attr` and a task with edge features, the paper's
    edge-feature variant; otherwise the node-only layer."""
    return GraphTransformer(info, hidden, layers, heads, dropout, in_feat_dropout, norm, residual, readout,
                            use_edge_attr)
