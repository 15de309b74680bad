"""Link prediction baselines, written against the link-level contract (`gbench.models.contract`):

- `model.encode(data) -> z [N, H]` and `model.score(z, pairs [2, P], data) -> logits [P]` for models trained by
  gradient; `data` holds `x` (or nothing, for featureless graphs), `edge_index` (the message-passing graph the
  protocol allows for the split being trained or scored) and `num_nodes`.
- `fit(data, train_pos)` / `predict(data, pairs) -> scores [P]` for the neighbourhood heuristics, which do not train.

A model may set `mask_target_edges = True`: the runner then removes each training batch's positive edges from the
graph it passes to `encode` and `score` for that batch (NCN's "target link removal"), so that a model cannot score
a training edge by finding it in its own input.

Message passing here uses a normalised sparse adjacency (`torch.sparse.mm` on CSR), the operators of PyG's GCNConv
(D^-1/2 (A + I) D^-1/2) and SAGEConv (mean aggregation, root weight); on CPU with deterministic algorithms it is
about 70x faster than scatter-based message passing on ogbl-ddi.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gbench.models.contract import TaskInfo
from gbench.models.ncn_code import CodePredictor, PureGCNEncoder
from gbench.models.node import InputDropout


@contextlib.contextmanager
def _quiet_sparse():
    """torch warns on every sparse tensor built here (invariant checks off, CSR in beta); both are noise for
    tensors built from coalesced indices."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        yield


# ---------------------------------------------------------------------------------------------------------------
# Graph matrices (cached per edge_index tensor object)


class _GraphCache:
    """Remembers matrices built from the last few edge_index tensors. The key is the tensor object itself (held
    here, so its memory cannot be reused by another tensor while it is a key)."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.entries: list[tuple[torch.Tensor, str, Any]] = []

    def get(self, edge_index: torch.Tensor, kind: str, build):
        for ei, k, value in self.entries:
            if ei is edge_index and k == kind:
                return value
        value = build()
        self.entries = [(edge_index, kind, value), *self.entries][: self.size]
        return value


def _binary_adjacency(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """A as a coalesced COO tensor with ones, duplicates and self-loops removed."""
    keep = edge_index[0] != edge_index[1]
    ei = edge_index[:, keep]
    with _quiet_sparse():
        a = torch.sparse_coo_tensor(ei, torch.ones(ei.size(1), device=ei.device), (num_nodes, num_nodes)).coalesce()
        return torch.sparse_coo_tensor(a.indices(), torch.ones_like(a.values()), a.shape).coalesce()


def gcn_adjacency(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2 as CSR, A binary and symmetric as given (PyG gcn_norm with add_self_loops)."""
    a = _binary_adjacency(edge_index, num_nodes)
    loops = torch.arange(num_nodes, device=edge_index.device)
    idx = torch.cat([a.indices(), torch.stack([loops, loops])], dim=1)
    val = torch.ones(idx.size(1), device=edge_index.device)
    deg = torch.zeros(num_nodes, device=edge_index.device).index_add_(0, idx[0], val)
    dinv = deg.pow(-0.5)
    val = dinv[idx[0]] * dinv[idx[1]]
    with _quiet_sparse():
        return torch.sparse_coo_tensor(idx, val, (num_nodes, num_nodes)).coalesce().to_sparse_csr()


def mean_adjacency(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Row-normalised A (mean over neighbours; a node without neighbours aggregates zeros), as CSR."""
    a = _binary_adjacency(edge_index, num_nodes)
    idx = a.indices()
    deg = torch.zeros(num_nodes, device=edge_index.device).index_add_(0, idx[0], a.values())
    val = 1.0 / deg[idx[0]]
    with _quiet_sparse():
        return torch.sparse_coo_tensor(idx, val, (num_nodes, num_nodes)).coalesce().to_sparse_csr()


# ---------------------------------------------------------------------------------------------------------------
# Encoders and the OGB link predictor


class GCNLayer(nn.Module):
    """PyG GCNConv's operator: Â X W + b."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        nn.init.xavier_uniform_(self.lin.weight)  # PyG GCNConv's glorot init

    def forward(self, x: torch.Tensor, adj: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.sparse.mm(adj["gcn"], self.lin(x)) + self.bias


class SAGELayer(nn.Module):
    """PyG SAGEConv's operator (mean aggregation, root weight): W_l mean_{j in N(i)} x_j + b + W_r x_i."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lin_l = nn.Linear(in_dim, out_dim)
        self.lin_r = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor, adj: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.lin_l(torch.sparse.mm(adj["mean"], x)) + self.lin_r(x)


_LAYERS = {"gcn": (GCNLayer, "gcn"), "sage": (SAGELayer, "mean")}


class NodeInput(nn.Module):
    """Node features, or a learnable embedding per node where the dataset has none (OGB ddi example:
    `Embedding(num_nodes, hidden)` with xavier-uniform init)."""

    def __init__(self, info: TaskInfo, hidden: int, embedding: bool | None) -> None:
        super().__init__()
        use_embedding = info.num_features == 0 if embedding is None else bool(embedding)
        if use_embedding and not info.num_nodes:
            raise ValueError("a learnable node embedding needs info.num_nodes")
        self.embedding = nn.Embedding(info.num_nodes, hidden) if use_embedding else None
        if self.embedding is not None:
            nn.init.xavier_uniform_(self.embedding.weight)
        self.dim = hidden if use_embedding else info.num_features

    def forward(self, data) -> torch.Tensor:
        if self.embedding is not None:
            return self.embedding.weight
        return data.x


class MessagePassingEncoder(nn.Module):
    """`layers` GCN or SAGE layers, ReLU and dropout between them (none after the last), as the OGB examples."""

    def __init__(self, kind: str, in_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        if kind not in _LAYERS:
            raise ValueError(f"encoder must be one of {', '.join(_LAYERS)}, got {kind!r}")
        layer, self.adjacency = _LAYERS[kind]
        dims = [in_dim] + [hidden] * layers
        self.layers = nn.ModuleList(layer(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, adj: dict[str, torch.Tensor]) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, adj)
            if i < len(self.layers) - 1:
                x = F.dropout(F.relu(x), self.dropout, self.training)
        return x


class HadamardMLP(nn.Module):
    """OGB's LinkPredictor: an MLP on z_i * z_j; ReLU and dropout between layers; returns logits (OGB applies a
    sigmoid inside and -log; the runner's BCE-with-logits is the same loss without the 1e-15)."""

    def __init__(self, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        dims = [hidden] * layers + [1]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for lin in self.lins[:-1]:
            h = F.dropout(F.relu(lin(h)), self.dropout, self.training)
        return self.lins[-1](h).view(-1)


class GNNLinkModel(nn.Module):
    """GCN or GraphSAGE encoder with the OGB examples' Hadamard-MLP predictor."""

    def __init__(self, info: TaskInfo, encoder: str, hidden: int, layers: int, dropout: float,
                 predictor_layers: int, embedding: bool | None) -> None:
        super().__init__()
        self.input = NodeInput(info, hidden, embedding)
        self.encoder = MessagePassingEncoder(encoder, self.input.dim, hidden, layers, dropout)
        self.predictor = HadamardMLP(hidden, predictor_layers, dropout)
        self._graphs = _GraphCache()

    def adjacency(self, data) -> dict[str, torch.Tensor]:
        kind = self.encoder.adjacency
        build = gcn_adjacency if kind == "gcn" else mean_adjacency
        return {kind: self._graphs.get(data.edge_index, kind, lambda: build(data.edge_index, data.num_nodes))}

    def encode(self, data) -> torch.Tensor:
        return self.encoder(self.input(data), self.adjacency(data))

    def score(self, z: torch.Tensor, pairs: torch.Tensor, data) -> torch.Tensor:
        return self.predictor(z[pairs[0]] * z[pairs[1]])


def gnn_link(info: TaskInfo, encoder: str = "gcn", hidden: int = 256, layers: int = 2, dropout: float = 0.5,
             predictor_layers: int = 2, embedding: bool | None = None) -> GNNLinkModel:
    """`embedding`: None learns a node embedding where the task has no node features, else uses the features."""
    return GNNLinkModel(info, encoder, hidden, layers, dropout, predictor_layers, embedding)


def gcn_link(info: TaskInfo, **hparams: Any) -> GNNLinkModel:
    return gnn_link(info, encoder="gcn", **hparams)


def sage_link(info: TaskInfo, **hparams: Any) -> GNNLinkModel:
    return gnn_link(info, encoder="sage", **hparams)


# ---------------------------------------------------------------------------------------------------------------
# Neural Common Neighbor (Wang, Yang, Zhang, "Neural Common Neighbor with Completion for Link Prediction",
# ICLR 2024, arXiv 2302.00890), re-implemented from the paper's description:
#   NCN(i, j) = MLP( sum_{u in N(i) ∩ N(j)} z_u  ||  z_i ⊙ z_j ),   z = MPNN(A, X),
# trained with target link removal (each batch's positive edges are removed from the input graph).


def common_neighbour_matrix(adjacency, num_nodes: int, pairs: torch.Tensor) -> torch.Tensor:
    """S [P, N] with S[p, u] = 1 when u is a neighbour of both pairs[0, p] and pairs[1, p] (sparse COO, float);
    `adjacency` is the binary scipy CSR matrix of the graph (`_scipy_adjacency`)."""
    u, v = pairs[0].cpu().numpy(), pairs[1].cpu().numpy()
    s = adjacency[u].multiply(adjacency[v]).tocoo()
    idx = torch.from_numpy(np.stack([s.row, s.col]).astype(np.int64))
    with _quiet_sparse():
        return torch.sparse_coo_tensor(idx, torch.ones(idx.size(1)), (pairs.size(1), num_nodes)).coalesce().to(
        pairs.device)


Architecture = Literal["gbench", "authors-code"]  # checked up front by gbench.hparams.check_hparams
ARCHITECTURES = get_args(Architecture)


class NCNModel(nn.Module):
    mask_target_edges = True

    def __init__(self, info: TaskInfo, hidden: int, layers: int, input_dropout: float, dropout: float,
                 predictor_dropout: float, cn_edge_dropout: float, embedding: bool | None,
                 architecture: Architecture = "gbench", head_layers: int = 1, tail_dropout: float = 0.0,
                 predictor_lr: float | None = None) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"ncn: hparams.architecture must be one of {', '.join(ARCHITECTURES)}, got "
                             f"'{architecture}'; set it so in the model spec.")
        if architecture == "gbench" and (head_layers != 1 or tail_dropout):
            raise ValueError("ncn: hparams.head_layers and tail_dropout belong to architecture 'authors-code'; "
                             "remove them or set architecture: authors-code in the model spec.")
        self.architecture, self.predictor_lr = architecture, predictor_lr
        self.input = NodeInput(info, hidden, embedding)
        self.xlin = nn.Linear(self.input.dim, hidden)
        self.input_dropout, self.dropout = input_dropout, dropout
        self.cn_edge_dropout = cn_edge_dropout
        self._graphs = _GraphCache()
        self.drop_input = InputDropout(input_dropout)
        if architecture == "authors-code":
            self.encoder = PureGCNEncoder(layers, dropout, tail_dropout)
            self.predictor = CodePredictor(hidden, predictor_dropout, head_layers)
            return
        self.convs = nn.ModuleList(GCNLayer(hidden, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))

        def branch() -> nn.Sequential:
            return nn.Sequential(nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, hidden))

        self.cn_branch, self.ij_branch = branch(), branch()
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                                  nn.Dropout(predictor_dropout), nn.Linear(hidden, 1))

    def param_groups(self) -> list[dict[str, Any]] | Iterator[nn.Parameter]:
        """For the optimizer: the predictor's parameters at `predictor_lr` (the authors' --prelr) where one is set,
        the encoder's at the optimizer's own rate; all parameters at that rate otherwise."""
        if self.predictor_lr is None:
            return self.parameters()
        heads = ([self.predictor] if self.architecture == "authors-code"
                 else [self.cn_branch, self.ij_branch, self.head])
        ids = {id(p) for m in heads for p in m.parameters()}
        return [{"params": [p for p in self.parameters() if id(p) not in ids]},
                {"params": [p for m in heads for p in m.parameters()], "lr": self.predictor_lr}]

    def input_layer(self, x: torch.Tensor) -> torch.Tensor:
        """xlin(dropout(x)), dropout by the node models' `InputDropout`. Sparse features (bag-of-words: about 1 %
        non-zero on Cora and CiteSeer) are dropped and multiplied as a sparse matrix: dropout leaves a zero at zero,
        so sampling only the non-zeros has exactly dense dropout's distribution, and the dense [N, F] dropout and
        product were most of a CPU epoch (a training step 4.5x faster on CiteSeer, 1.6x on Cora:
        `benchmarks/ncn_input.py`). PubMed's TF-IDF (10 %) keeps the dense product."""
        xs = self.drop_input.sparse(x)
        if xs is None:  # dense, or 5-20 % non-zero (dropout still samples only the non-zeros)
            return self.xlin(self.drop_input(x))
        return torch.sparse.mm(xs, self.xlin.weight.t()) + self.xlin.bias

    def encode(self, data) -> torch.Tensor:
        adj = {"gcn": self._graphs.get(data.edge_index, "gcn", lambda: gcn_adjacency(data.edge_index, data.num_nodes))}
        h = self.input_layer(self.input(data))
        if self.architecture == "authors-code":
            return self.encoder(h, adj["gcn"])
        out = h
        for conv, norm in zip(self.convs, self.norms):
            h = F.dropout(F.relu(norm(conv(h, adj))), self.dropout, self.training)
            out = out + h  # jumping knowledge by summation over layers
        return out

    def score(self, z: torch.Tensor, pairs: torch.Tensor, data) -> torch.Tensor:
        a = self._graphs.get(data.edge_index, "scipy", lambda: _scipy_adjacency(data.edge_index, data.num_nodes))
        return self.score_neighbours(common_neighbour_matrix(a, data.num_nodes, pairs), z, pairs)

    def score_neighbours(self, s: torch.Tensor, z: torch.Tensor, pairs: torch.Tensor, x: torch.Tensor | None = None,
                         drop: bool = True) -> torch.Tensor:
        """Logits [P] from a pair-by-node neighbour matrix s [P, N] (sparse; NCN's observed common neighbours, or
        NCNC's completed ones): aggregation dropout in training (`drop=False`: s was built from an adjacency already
        dropped), s @ z, the two branches and the head. `x`: the authors-code predictor's node states, where the
        caller has computed them."""
        if self.training and self.cn_edge_dropout > 0 and drop:
            code = self.architecture == "authors-code"  # both edges kept, no rescaling (`gbench.models.ncn_code`)
            rate = 1 - (1 - self.cn_edge_dropout) ** 2 if code else self.cn_edge_dropout
            keep = torch.rand(s.values().numel(), device=z.device) >= rate
            with _quiet_sparse():
                s = torch.sparse_coo_tensor(s.indices()[:, keep], s.values()[keep] / (1 if code else 1 - rate),
                                            s.shape).coalesce()
        if self.architecture == "authors-code":
            return self.predictor(s, z, pairs, x)
        cn = torch.sparse.mm(s, z)
        h = torch.cat([self.cn_branch(cn), self.ij_branch(z[pairs[0]] * z[pairs[1]])], dim=-1)
        return self.head(h).view(-1)


def ncn(info: TaskInfo, hidden: int = 256, layers: int = 1, input_dropout: float = 0.7, dropout: float = 0.05,
        predictor_dropout: float = 0.05, cn_edge_dropout: float = 0.4, embedding: bool | None = None,
        architecture: Architecture = "gbench", head_layers: int = 1, tail_dropout: float = 0.0,
        predictor_lr: float | None = None) -> NCNModel:
    """`architecture`: 'gbench' (the paper's equation: GCN layer, concatenated branches) or 'authors-code' (the
    released code's citation-graph form, `gbench.models.ncn_code`, with `head_layers` = 2 for its --twolayerlin and
    `tail_dropout` its --tdp). `predictor_lr`: the predictor's own learning rate (the code's --prelr)."""
    return NCNModel(info, hidden, layers, input_dropout, dropout, predictor_dropout, cn_edge_dropout, embedding,
                    architecture, head_layers, tail_dropout, predictor_lr)


# ---------------------------------------------------------------------------------------------------------------
# Neighbourhood heuristics (no training, exact, scipy.sparse)


def _scipy_adjacency(edge_index: torch.Tensor, num_nodes: int):
    """Binary symmetric CSR adjacency without self-loops (duplicates counted once)."""
    import scipy.sparse as sp

    ei = edge_index.cpu().numpy()
    keep = ei[0] != ei[1]
    a = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float64), (ei[0][keep], ei[1][keep])),
                      shape=(num_nodes, num_nodes))
    a.data[:] = 1.0
    return a


class NeighbourhoodHeuristic:
    """score(i, j) = sum over common neighbours w of i and j of weight(w), on the graph the protocol allows:
    Common Neighbours weight 1; Adamic-Adar 1 / log(deg w) (Adamic & Adar 2003); Resource Allocation 1 / deg w
    (Zhou, Lü & Zhang 2009). Degrees are counted in the same graph. Exact, in float64."""

    def __init__(self, kind: str, chunk: int = 16384) -> None:
        if kind not in ("cn", "aa", "ra"):
            raise ValueError(f"kind must be cn, aa or ra, got {kind!r}")
        self.kind, self.chunk = kind, chunk
        self._graph: tuple[torch.Tensor, Any, np.ndarray] | None = None

    def fit(self, data, train_pos: torch.Tensor) -> NeighbourhoodHeuristic:
        return self  # nothing to learn: every score is read off the graph passed to predict()

    def _prepared(self, data):
        if self._graph is None or self._graph[0] is not data.edge_index:
            a = _scipy_adjacency(data.edge_index, int(data.num_nodes))
            deg = np.asarray(a.sum(axis=1)).ravel()
            with np.errstate(divide="ignore"):
                if self.kind == "cn":
                    w = np.ones_like(deg)
                elif self.kind == "aa":
                    w = np.where(deg > 1, 1.0 / np.log(np.maximum(deg, 2)), 0.0)
                else:
                    w = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)
            self._graph = (data.edge_index, a, w)
        return self._graph[1], self._graph[2]

    def predict(self, data, pairs: torch.Tensor) -> torch.Tensor:
        a, w = self._prepared(data)
        u, v = pairs[0].cpu().numpy(), pairs[1].cpu().numpy()
        out = np.empty(u.shape[0], dtype=np.float64)
        for start in range(0, u.shape[0], self.chunk):
            sl = slice(start, start + self.chunk)
            out[sl] = a[u[sl]].multiply(a[v[sl]]) @ w
        return torch.from_numpy(out)


def common_neighbours(info: TaskInfo) -> NeighbourhoodHeuristic:
    return NeighbourhoodHeuristic("cn")


def adamic_adar(info: TaskInfo) -> NeighbourhoodHeuristic:
    return NeighbourhoodHeuristic("aa")


def resource_allocation(info: TaskInfo) -> NeighbourhoodHeuristic:
    return NeighbourhoodHeuristic("ra")
