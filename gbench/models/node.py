"""Node-level baselines: MLP, GCN, GraphSAGE, GAT, and two models that do not train by gradient.

Every factory follows the model contract (`gbench.models.contract`): `factory(info, **hparams)`, and
`model(data) -> Tensor[num_nodes, info.out_dim]` where `data` carries `x` [N, F] and `edge_index` [2, E].
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gbench.models.contract import TaskInfo

Norm = Literal["none", "batch", "layer"]


def _norm(kind: Norm, dim: int) -> nn.Module:
    return {"none": nn.Identity, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}[kind](dim)


class InputDropout(nn.Module):
    """Dropout on the input features that samples only their non-zero entries when they are sparse.

    Dropout leaves a zero at zero, so masking only the non-zeros has exactly the distribution of dense dropout
    (Kipf & Welling's and Veličković et al.'s code drop sparse features this way). On bag-of-words features (about
    1% non-zero on Cora and CiteSeer) this avoids drawing and writing millions of numbers per step, which dominates
    a CPU epoch. The non-zero pattern and an output buffer are kept per input tensor; only the non-zero positions
    of the buffer are ever written, so it needs no clearing. Calling the module twice in one training step before
    `backward()` would overwrite a tensor autograd saved, which autograd reports as an in-place error.
    `sparse(x)` gives the dropped features as a sparse matrix instead, for a layer that multiplies them (NCN).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self._key: tuple | None = None
        self._share = 1.0
        self._flat: Tensor | None = None
        self._values: Tensor | None = None
        self._indices: Tensor | None = None
        self._buffer: Tensor | None = None

    def _pattern(self, x: Tensor) -> None:
        """The non-zero positions and values of x, kept until another tensor (or x changed in place) comes."""
        key = (x.data_ptr(), tuple(x.shape), x.device, x._version)
        if key != self._key:
            flat = x.reshape(-1).nonzero().view(-1)
            self._share = flat.numel() / max(x.numel(), 1)
            sparse = self._share < 0.2 and not x.requires_grad
            self._flat = flat if sparse else None
            self._values = x.reshape(-1)[flat] if sparse else None
            self._indices = self._buffer = None
            self._key = key

    def _dropped(self) -> Tensor:
        if not self.training or self.p == 0.0:
            return self._values
        keep = torch.rand(self._values.shape, device=self._values.device) >= self.p
        return self._values * keep / (1.0 - self.p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        self._pattern(x)
        if self._flat is None:
            return F.dropout(x, self.p, True)
        if self._buffer is None:
            self._buffer = torch.zeros_like(x)
        self._buffer.view(-1).index_copy_(0, self._flat, self._dropped())
        return self._buffer

    def sparse(self, x: Tensor, max_share: float = 0.05) -> Tensor | None:
        """Dropout (in training) of a 2-D x as a coalesced sparse COO matrix, where under `max_share` of x is
        non-zero; else None. A product with it costs only the non-zeros; above about 5 % the dense product is as
        fast on CPU (PubMed's TF-IDF, 10 %: `benchmarks/ncn_input.py`)."""
        if x.dim() != 2:
            return None
        self._pattern(x)
        if self._flat is None or self._share >= max_share:
            return None
        if self._indices is None:
            self._indices = torch.stack([self._flat // x.size(1), self._flat % x.size(1)])
        return torch.sparse_coo_tensor(self._indices, self._dropped(), x.shape, is_coalesced=True)


class _Stack(nn.Module):
    """Layers of one kind with optional normalisation, residual connections and dropout between them.

    `make_conv(in_dim, out_dim, last)` builds layer i; graph layers take (x, edge_index), linear ones only x.
    Dropout `input_dropout` applies to the input features, `dropout` after every hidden layer.
    """

    def __init__(self, dims: list[int], make_conv, graph: bool, dropout: float, input_dropout: float,
                 norm: Norm, residual: bool, activation: str = "relu") -> None:
        super().__init__()
        self.convs = nn.ModuleList(make_conv(a, b, i == len(dims) - 2) for i, (a, b) in enumerate(zip(dims, dims[1:])))
        self.norms = nn.ModuleList(_norm(norm, d) for d in dims[1:-1])
        self.graph = graph
        self.dropout = dropout
        self.input_dropout = InputDropout(input_dropout)
        self.residual = residual
        self.act = {"relu": F.relu, "elu": F.elu}[activation]

    def forward(self, data) -> Tensor:
        x, edge_index = data.x, data.edge_index
        x = self.input_dropout(x)
        for i, conv in enumerate(self.convs):
            h = conv(x, edge_index) if self.graph else conv(x)
            if i == len(self.convs) - 1:
                return h
            h = self.act(self.norms[i](h))
            if self.residual and h.shape == x.shape:
                h = h + x
            x = F.dropout(h, self.dropout, self.training)
        return x  # pragma: no cover (zero layers are refused below)


def _dims(info: TaskInfo, hidden: int, layers: int) -> list[int]:
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    return [info.num_features] + [hidden] * (layers - 1) + [info.out_dim]


def mlp(info: TaskInfo, hidden: int = 64, layers: int = 2, dropout: float = 0.5, input_dropout: float = 0.0,
        norm: Norm = "none", residual: bool = False) -> nn.Module:
    """A multilayer perceptron on node features alone (the structure-agnostic reference point)."""
    return _Stack(_dims(info, hidden, layers), lambda a, b, last: nn.Linear(a, b), False, dropout, input_dropout,
                  norm, residual)


def gcn(info: TaskInfo, hidden: int = 16, layers: int = 2, dropout: float = 0.5, input_dropout: float = 0.5,
        norm: Norm = "none", residual: bool = False, cached: bool = False) -> nn.Module:
    """Kipf & Welling (ICLR 2017) graph convolutions. `cached=True` reuses the normalised adjacency (one graph)."""
    from torch_geometric.nn import GCNConv

    return _Stack(_dims(info, hidden, layers), lambda a, b, last: GCNConv(a, b, cached=cached), True, dropout,
                  input_dropout, norm, residual)


def sage(info: TaskInfo, hidden: int = 64, layers: int = 2, dropout: float = 0.5, input_dropout: float = 0.0,
         norm: Norm = "none", residual: bool = False, aggr: str = "mean") -> nn.Module:
    """Hamilton et al. (NeurIPS 2017) GraphSAGE with the mean aggregator, full-neighbourhood."""
    from torch_geometric.nn import SAGEConv

    return _Stack(_dims(info, hidden, layers), lambda a, b, last: SAGEConv(a, b, aggr=aggr), True, dropout,
                  input_dropout, norm, residual)


def gat(info: TaskInfo, hidden: int = 8, heads: int = 8, out_heads: int = 1, layers: int = 2, dropout: float = 0.6,
        input_dropout: float = 0.6, attn_dropout: float = 0.6, norm: Norm = "none", residual: bool = False
        ) -> nn.Module:
    """Veličković et al. (ICLR 2018): `heads` concatenated heads of `hidden` units, ELU; the output layer averages
    `out_heads` heads."""
    from torch_geometric.nn import GATConv

    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    dims = [info.num_features] + [hidden * heads] * (layers - 1) + [info.out_dim]

    def make(a: int, b: int, last: bool) -> nn.Module:
        if last:
            return GATConv(a, b, heads=out_heads, concat=False, dropout=attn_dropout)
        return GATConv(a, hidden, heads=heads, concat=True, dropout=attn_dropout)

    return _Stack(dims, make, True, dropout, input_dropout, norm, residual, activation="elu")


class LabelPropagationModel:
    """Zhou et al. (NIPS 2004) label spreading via PyG's `LabelPropagation`; no features, no training.

    fit(data, y, train_index) remembers the training labels; predict(data) -> Tensor[N, num_classes] of scores.
    """

    def __init__(self, info: TaskInfo, num_layers: int, alpha: float) -> None:
        from torch_geometric.nn import LabelPropagation

        if info.target != "multiclass":
            raise ValueError("label propagation here supports multiclass node tasks only")
        self.prop = LabelPropagation(num_layers=num_layers, alpha=alpha)
        self.num_classes = info.out_dim
        self.y: Tensor | None = None
        self.train_index: Tensor | None = None

    def fit(self, data, y: Tensor, train_index: Tensor) -> None:
        self.y, self.train_index = y, train_index

    @torch.no_grad()
    def predict(self, data) -> Tensor:
        assert self.y is not None and self.train_index is not None, "fit() must come first"
        mask = torch.zeros(data.num_nodes, dtype=torch.bool, device=self.y.device)
        mask[self.train_index] = True
        y = torch.zeros(data.num_nodes, dtype=torch.long, device=self.y.device)
        y[self.train_index] = self.y
        return self.prop(y, data.edge_index, mask=mask)


def label_propagation(info: TaskInfo, num_layers: int = 50, alpha: float = 0.9) -> LabelPropagationModel:
    return LabelPropagationModel(info, num_layers, alpha)


class LogisticRegressionModel:
    """scikit-learn logistic regression on node features alone (L2, lbfgs)."""

    def __init__(self, info: TaskInfo, C: float, max_iter: int) -> None:
        from sklearn.linear_model import LogisticRegression

        if info.target not in ("multiclass", "binary"):
            raise ValueError("logistic regression supports multiclass and binary node tasks only")
        self.clf = LogisticRegression(C=C, max_iter=max_iter)
        self.binary = info.target == "binary"

    def fit(self, data, y: Tensor, train_index: Tensor) -> None:
        self.clf.fit(data.x[train_index].cpu().numpy(), y.view(-1).cpu().numpy())

    def predict(self, data) -> Tensor:
        scores = torch.from_numpy(self.clf.decision_function(data.x.cpu().numpy())).float()
        return scores.view(-1, 1) if self.binary else scores


def logistic_regression(info: TaskInfo, C: float = 1.0, max_iter: int = 1000) -> LogisticRegressionModel:
    return LogisticRegressionModel(info, C, max_iter)
