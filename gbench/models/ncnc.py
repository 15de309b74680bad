"""Neural Common Neighbor with Completion (NCNC; Wang, Yang & Zhang, "Neural Common Neighbor with Completion for
Link Prediction", ICLR 2024, arXiv 2302.00890), re-implemented from the paper beside gbench's NCN
(`gbench.models.link.NCNModel`), whose encoder, branches and head it shares:

    NCNC(i, j) = MLP( sum_{u in N(i) ∩ N(j)} z_u + sum_{u in N(i) \\ N(j)} w(j, u) z_u
                      + sum_{u in N(j) \\ N(i)} w(i, u) z_u  ||  z_i ⊙ z_j ),

where w(a, u) is the probability, estimated by an NCN pass of the same network on the observed graph, that the
missing edge (a, u) exists: a node adjacent to only one endpoint is a common neighbour with that probability
(the paper's "common neighbour completion"). Nodes adjacent to neither endpoint take no part. The completion pass
runs without gradient, as in the authors' code: the probabilities weight the aggregation, no loss trains them.

The probability is the NCN logit s calibrated as the authors' code does (its --probscale, --proboffset, --pt and
--alpha), written here as a shift of the log-odds by the prior:
    w = alpha * sigmoid(prob_scale * (s - prob_offset) + log(prior)),
which equals alpha * prior * p / (prior * p + 1 - p) with p = sigmoid(prob_scale * (s - prob_offset)).

Target link removal (the paper's TLR) is the runner's `mask_target_edges`: each training batch's positive edges
are removed from the graph passed to `encode` and `score`, so both the common neighbours and the completion pass
see the graph without the target links. One completion step (the paper's NCNC, not NCNC-2); no neighbour
sampling (the authors' citation-graph commands sample none).

Where the common-neighbour edge dropout (`cn_edge_dropout`, the code's --preedp) acts, `cn_edge_dropout_on`:
- 'neighbour-matrix' (default): on the entries of the finished pair-by-node matrix, common and one-sided alike, and
  again inside the completion pass;
- 'adjacency' (authors-code form only): as the code's `DropAdj` does, on the directed entries of the adjacency
  before a pair's neighbours are split into common and one-sided. A one-sided neighbour is then kept with
  probability 1 - p (not (1 - p)^2), a common neighbour that lost one of its two edges becomes a completion
  candidate, and the completion pass sees the adjacency dropped a second time (its own `DropAdj`), each directed
  entry kept with (1 - p)^2. Only Cora's command sets --preedp (0.4); without it the two are the same model.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from gbench.models.contract import TaskInfo
from gbench.models.link import Architecture, NCNModel, _quiet_sparse, _scipy_adjacency, common_neighbour_matrix

_COMPLETION_CHUNK = 65536  # completion queries scored at once (bounds the [Q, hidden] activations)
EdgeDropoutOn = Literal["neighbour-matrix", "adjacency"]


class NCNCModel(NCNModel):
    """NCN's encoder, branches and head; `score` aggregates the completed common neighbours instead of the observed
    ones. No parameters of its own: the completion pass is the network's NCN."""

    def __init__(self, info: TaskInfo, hidden: int, layers: int, input_dropout: float, dropout: float,
                 predictor_dropout: float, cn_edge_dropout: float, embedding: bool | None, prob_scale: float,
                 prob_offset: float, prior: float, alpha: float, cn_edge_dropout_on: EdgeDropoutOn = "neighbour-matrix",
                 **form: Any) -> None:
        super().__init__(info, hidden, layers, input_dropout, dropout, predictor_dropout, cn_edge_dropout, embedding,
                         **form)
        if not 0.0 < prior <= 1.0:
            raise ValueError(f"ncnc: hparams.prior (the authors' --pt) must be in (0, 1], got {prior}; set it so in "
                             "the model spec.")
        if cn_edge_dropout_on == "adjacency" and self.architecture != "authors-code":
            raise ValueError("ncnc: hparams.cn_edge_dropout_on 'adjacency' is the authors-code form's; remove it or "
                             "set architecture: authors-code in the model spec.")
        self.prob_scale, self.prob_offset, self.prior, self.alpha = prob_scale, prob_offset, prior, alpha
        self.cn_edge_dropout_on = cn_edge_dropout_on

    def drop_adjacency(self, a):
        """The binary scipy CSR adjacency A with each directed entry kept independently with probability
        1 - cn_edge_dropout (the code's `DropAdj`; kept entries stay 1, as the code's overlap reads them)."""
        keep = (torch.rand(a.nnz) >= self.cn_edge_dropout).numpy()
        out = a.copy()
        out.data = out.data * keep
        out.eliminate_zeros()
        return out

    def completion_weight(self, logits: torch.Tensor) -> torch.Tensor:
        """NCN logits [Q] of the missing edges -> completion weights [Q] in (0, alpha)."""
        return self.alpha * torch.sigmoid(self.prob_scale * (logits - self.prob_offset) + math.log(self.prior))

    def completed_neighbours(self, z: torch.Tensor, pairs: torch.Tensor, data, adjacency=None, inner=None
                             ) -> torch.Tensor:
        """C [P, N] (sparse COO, float): C[p, u] = 1 for a common neighbour u of pairs[:, p] = (i, j); the
        completion weight of the edge (j, u) for u adjacent to i only and of (i, u) for u adjacent to j only; no
        entry for any other node (nor for i and j themselves). z [N, H] are the node representations the completion
        pass scores with: `encode`'s (in the authors-code form, its predictor's node states). `adjacency`: the
        scipy adjacency the neighbours are read from (default: the graph's); `inner`: the one the completion pass
        reads, with no further dropout (default: the graph's, with the pass's own aggregation dropout)."""
        a = self._graphs.get(data.edge_index, "scipy", lambda: _scipy_adjacency(data.edge_index, data.num_nodes))
        a = a if adjacency is None else adjacency
        i, j = pairs[0].cpu().numpy(), pairs[1].cpu().numpy()
        ai, aj = a[i], a[j]
        common = ai.multiply(aj).tocoo()
        rows, cols = [common.row], [common.col]
        weights = [torch.ones(common.nnz, dtype=z.dtype)]
        queries = []
        for own, other_end in ((ai - ai.multiply(aj), j), (aj - ai.multiply(aj), i)):
            own = own.tocoo()
            keep = (own.data > 0) & (own.col != other_end[own.row])  # an endpoint is not its own pair's neighbour
            r, c = own.row[keep], own.col[keep]
            rows.append(r)
            cols.append(c)
            queries.append(np.stack([other_end[r], c]))
        q = torch.from_numpy(np.concatenate(queries, axis=1).astype(np.int64)).to(pairs.device)
        with torch.no_grad():
            chunks = [q[:, s: s + _COMPLETION_CHUNK] for s in range(0, q.size(1), _COMPLETION_CHUNK)]
            logits = [NCNModel.score(self, z, c, data) if inner is None else
                      self.score_neighbours(common_neighbour_matrix(inner, data.num_nodes, c), z, c, drop=False)
                      for c in chunks]
            weights.append(self.completion_weight(torch.cat(logits)).cpu() if logits else torch.zeros(0))
        idx = torch.from_numpy(np.stack([np.concatenate(rows), np.concatenate(cols)]).astype(np.int64))
        with _quiet_sparse():
            return torch.sparse_coo_tensor(idx, torch.cat(weights).to(z.dtype), (pairs.size(1), data.num_nodes)
                                           ).coalesce().to(z.device)

    def score(self, z: torch.Tensor, pairs: torch.Tensor, data) -> torch.Tensor:
        if self.architecture != "authors-code":
            return self.score_neighbours(self.completed_neighbours(z, pairs, data), z, pairs)
        # the authors' code completes on its predictor's node states x = z + MLP_x(z), one dropout draw for both
        x = self.predictor.node_states(z)
        if self.training and self.cn_edge_dropout > 0 and self.cn_edge_dropout_on == "adjacency":
            a = self._graphs.get(data.edge_index, "scipy", lambda: _scipy_adjacency(data.edge_index, data.num_nodes))
            outer = self.drop_adjacency(a)
            c = self.completed_neighbours(x.detach(), pairs, data, adjacency=outer, inner=self.drop_adjacency(outer))
            return self.score_neighbours(c, z, pairs, x, drop=False)
        return self.score_neighbours(self.completed_neighbours(x.detach(), pairs, data), z, pairs, x)


def ncnc(info: TaskInfo, hidden: int = 256, layers: int = 1, input_dropout: float = 0.7, dropout: float = 0.05,
         predictor_dropout: float = 0.05, cn_edge_dropout: float = 0.4, embedding: bool | None = None,
         prob_scale: float = 4.3, prob_offset: float = 2.8, prior: float = 0.75, alpha: float = 1.0,
         architecture: Architecture = "gbench", head_layers: int = 1, tail_dropout: float = 0.0,
         predictor_lr: float | None = None, cn_edge_dropout_on: EdgeDropoutOn = "neighbour-matrix") -> NCNCModel:
    """Defaults: the NCN README's Cora command (--probscale 4.3 --proboffset 2.8 --pt 0.75 --alpha 1.0); the next
    four as `gbench.models.link.ncn`'s; `cn_edge_dropout_on` in the module's docstring."""
    return NCNCModel(info, hidden, layers, input_dropout, dropout, predictor_dropout, cn_edge_dropout, embedding,
                     prob_scale, prob_offset, prior, alpha, cn_edge_dropout_on, architecture=architecture,
                     head_layers=head_layers, tail_dropout=tail_dropout, predictor_lr=predictor_lr)
