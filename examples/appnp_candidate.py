"""A candidate model exactly as a user would write it: one file, one factory, no gbench imports needed.

APPNP (Gasteiger et al., "Predict then Propagate", ICLR 2019): an MLP makes per-node predictions, which are then
propagated with personalised PageRank for K steps. Run it under the baselines' protocol with

    gbench run --tasks cora --model examples/appnp_candidate.py:build --models gcn

and check it against the model contract first with

    gbench check-model examples/appnp_candidate.py:build
"""

import torch
import torch.nn.functional as F
from torch_geometric.nn import APPNP


class APPNPNet(torch.nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float, k: int, alpha: float) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(in_dim, hidden)
        self.lin2 = torch.nn.Linear(hidden, out_dim)
        self.prop = APPNP(K=k, alpha=alpha, cached=True)
        self.dropout = dropout

    def forward(self, data) -> torch.Tensor:
        """data.x: [N, in_dim], data.edge_index: [2, E] -> logits [N, out_dim]."""
        x = F.dropout(data.x, self.dropout, self.training)
        x = F.relu(self.lin1(x))
        x = F.dropout(x, self.dropout, self.training)
        return self.prop(self.lin2(x), data.edge_index)


def build(info, hidden: int = 64, dropout: float = 0.5, k: int = 10, alpha: float = 0.1) -> torch.nn.Module:
    """The factory gbench calls: `info` says the input width and the output width, hyperparameters follow."""
    return APPNPNet(info.num_features, hidden, info.out_dim, dropout, k, alpha)
