"""The GCN of Tönshoff, Ritzert, Rosenbluth and Grohe, "Where Did the Gap Go? Reassessing the Long-Range Graph
Benchmark" (LoG 2023), tuned for LRGB's Peptides-func (0.6860 ± 0.0050 AP against LRGB's 0.5930): re-implemented
from the paper and its code (toenshoff/LRGB, configs/LRGB-tuned/peptides-func-GCN.yaml on GraphGPS's
`custom_gnn`), following the model contract: `factory(info, **hparams)` and `model(batch) -> [num_graphs, out]`.

- node input (`Atom+RWSE`): OGB's AtomEncoder to `hidden - pe_dim` channels, concatenated with a random-walk
  structural encoding of `pe_dim` channels: the `rw_pe:K` transform's K return probabilities (K = 20: GraphGPS's
  `times_func: range(1, 21)`), batch-normalised (`raw_norm_type: BatchNorm`) and mapped by one linear layer
  (`model: Linear`), as GraphGPS's KernelPENodeEncoder with `expand_x` off;
- `layers` GCN layers (GraphGPS's GCNConvLayer): PyG's GCNConv with bias, then the activation (GELU) and dropout,
  then a residual connection; no batch norm (the layer has none);
- mean pooling, then GraphGPS's `mlp_graph` head: `head_layers - 1` blocks of dropout, Linear(hidden, hidden) and
  the activation, then dropout and Linear(hidden, out).

The config also names a Bond edge encoder, which GCNConvLayer never reads: it is left out here, so the parameter
count is the authors' less those unused 13 x hidden weights.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from gbench.models.contract import TaskInfo
from gbench.models.graph import InputEncoder, readout_pool

_ACTS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU}


class TunedGCN(nn.Module):
    """Atom (or feature) encoder + RWSE -> residual GCN layers -> readout -> MLP head (see the module docstring)."""

    def __init__(self, info: TaskInfo, hidden: int, layers: int, dropout: float, pe_dim: int, head_layers: int,
                 act: str, readout: str) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        k = info.extras.get("rw_pe")
        if not k:
            raise ValueError("gcn-tuned reads a random-walk structural encoding: add the transform rw_pe:K "
                             "(Tönshoff et al.: rw_pe:20) to the model spec's transforms.")
        if not 0 < pe_dim < hidden:
            raise ValueError(f"gcn-tuned needs 0 < pe_dim < hidden; got pe_dim {pe_dim}, hidden {hidden}.")
        if layers < 1 or head_layers < 1:
            raise ValueError(f"layers and head_layers must be >= 1, got {layers} and {head_layers}.")
        if act not in _ACTS:
            raise ValueError(f"act '{act}' is not one of {', '.join(_ACTS)}; set it so in the model spec.")
        self.features = InputEncoder(info, hidden - pe_dim)
        self.rw_norm, self.rw = nn.BatchNorm1d(k), nn.Linear(k, pe_dim)
        self.convs = nn.ModuleList(GCNConv(hidden, hidden, bias=True) for _ in range(layers))
        self.act, self.dropout = _ACTS[act](), nn.Dropout(dropout)
        self.pool = readout_pool(readout)
        blocks: list[nn.Module] = []
        for _ in range(head_layers - 1):
            blocks += [nn.Dropout(dropout), nn.Linear(hidden, hidden), _ACTS[act]()]
        self.head = nn.Sequential(*blocks, nn.Dropout(dropout), nn.Linear(hidden, info.out_dim))

    def forward(self, batch) -> Tensor:
        h = torch.cat([self.features(batch).float(), self.rw(self.rw_norm(batch.rw_pe))], dim=1)
        for conv in self.convs:
            h = h + self.dropout(self.act(conv(h, batch.edge_index)))
        return self.head(self.pool(h, batch.batch, size=batch.num_graphs))


def gcn_tuned(info: TaskInfo, hidden: int = 235, layers: int = 6, dropout: float = 0.1, pe_dim: int = 28,
              head_layers: int = 3, act: Literal["gelu", "relu"] = "gelu", readout: str = "mean") -> nn.Module:
    """Tönshoff et al.'s tuned GCN; the defaults are their peptides-func-GCN.yaml (dim_inner 235, layers_mp 6,
    dropout 0.1, RWSE dim_pe 28, layers_post_mp 3, act gelu, residual, mean pooling)."""
    return TunedGCN(info, hidden, layers, dropout, pe_dim, head_layers, act, readout)
