"""NCN's encoder and predictor in the form the authors' released code gives them for the citation graphs
(GraphPKU/NeuralCommonNeighbor, README commands for Cora, Citeseer and Pubmed: `--model puregcn --mplayers 1 --jk
--use_xlin --tailact --lnnn`, `--twolayerlin` on Citeseer, separate `--gnnlr` and `--prelr`), re-implemented
here from reading that code. `NCNModel(architecture="authors-code")` uses them; gbench's own form
(`architecture="gbench"`, the paper's equation with a GCN layer, a concatenating head and one learning rate) stays
the default so that the rows made with it stay reproducible.

Encoder (after the shared input layer W x, with input dropout):
    h_0 = dropout(W x, p_gnn);  h_l = Â h_{l-1}  (Â = D^-1/2 (A + I) D^-1/2, no weights, no non-linearity);
    dropout(p_tail) on the last h;  z = sum_l w_l h_l  with learnable scalars w_l ~ N(0, 1) (the code's `--jk`).
Predictor (p = predictor dropout; MLPs are Linear, Dropout, ReLU blocks, LayerNorm where the code's `--lnnn` puts it):
    x = z + MLP_x(z)                                      (`--use_xlin`: a residual 2-layer MLP on every node)
    cn = sum over the common neighbours u of (i, j) of x_u
    logit = MLP_head( beta * MLP_cn(cn) + MLP_ij(z_i * z_j) )   (beta learnable, 1 at start; `--tailact`: both
                                                                   branches end in ReLU, not a linear layer)
MLP_head has `head_layers` hidden blocks (2 = `--twolayerlin`) and a linear output.

NCNC (`--predictor incn1cn1`): the code runs its completion pass, the NCN that estimates each missing edge, on x
rather than z (so that pass adds MLP_x once more), and sums the completed neighbours' x with the observed ones';
`gbench.models.ncnc` does the same in this form.

Common-neighbour dropout (`--preedp`): the code drops entries of the adjacency matrix before intersecting the two
endpoints' rows, so a common neighbour survives when both of its edges do (probability (1 - p)^2) and counts 1,
without rescaling. Here each (pair, neighbour) entry is kept with that probability; the one difference is that two
pairs sharing an endpoint draw their shared edge independently.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(hidden: int, dropout: float, norm: bool) -> list[nn.Module]:
    return [nn.Linear(hidden, hidden), *([nn.LayerNorm(hidden)] if norm else []), nn.Dropout(dropout), nn.ReLU()]


class PureGCNEncoder(nn.Module):
    """Parameter-free GCN propagation of the input layer's output, combined over layers by learnable weights."""

    def __init__(self, layers: int, dropout: float, tail_dropout: float) -> None:
        super().__init__()
        self.dropout, self.tail_dropout = dropout, tail_dropout
        self.jk = nn.Parameter(torch.randn(layers))

    def forward(self, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        h = F.dropout(h, self.dropout, self.training)
        out = torch.zeros_like(h)
        for layer, weight in enumerate(self.jk):
            h = torch.sparse.mm(adj, h)
            if layer == len(self.jk) - 1:
                h = F.dropout(h, self.tail_dropout, self.training)
            out = out + weight * h
        return out


class CodePredictor(nn.Module):
    """The code's common-neighbour predictor: logits [P] from the neighbour matrix s [P, N] and z [N, H]."""

    def __init__(self, hidden: int, dropout: float, head_layers: int) -> None:
        super().__init__()
        # MLP_x and MLP_cn: Linear, Dropout, ReLU, then Linear, LayerNorm, Dropout, ReLU
        self.node_mlp = nn.Sequential(*_block(hidden, dropout, norm=False), *_block(hidden, dropout, norm=True))
        self.cn_mlp = nn.Sequential(*_block(hidden, dropout, norm=False), *_block(hidden, dropout, norm=True))
        self.ij_mlp = nn.Sequential(*_block(hidden, dropout, norm=True))
        self.head = nn.Sequential(*[m for _ in range(head_layers) for m in _block(hidden, dropout, norm=True)],
                                  nn.Linear(hidden, 1))
        self.beta = nn.Parameter(torch.ones(1))

    def node_states(self, z: torch.Tensor) -> torch.Tensor:
        """x = z + MLP_x(z), what the common-neighbour sum adds up."""
        return z + self.node_mlp(z)

    def forward(self, s: torch.Tensor, z: torch.Tensor, pairs: torch.Tensor, x: torch.Tensor | None = None
                ) -> torch.Tensor:
        """`x`: `node_states(z)` where the caller has them already (NCNC shares one draw of their dropout).
        Otherwise they are computed for the nodes s names only, the only rows s @ x reads (the same numbers in
        evaluation, the same distribution in training; a batch names a few hundred of CiteSeer's 3327 nodes)."""
        if x is None:
            s = s.coalesce()
            used, col = torch.unique(s.indices()[1], return_inverse=True)
            s = torch.sparse_coo_tensor(torch.stack([s.indices()[0], col]), s.values(), (s.size(0), used.numel()))
            x = self.node_states(z[used])
        cn = torch.sparse.mm(s, x)
        ij = self.ij_mlp(z[pairs[0]] * z[pairs[1]])
        return self.head(self.beta * self.cn_mlp(cn) + ij).view(-1)
