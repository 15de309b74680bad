"""Tönshoff et al.'s tuned GCN for Peptides-func (gbench/models/tuned_gcn.py, baselines/graph/gcn-tuned.yaml): the
spec is their configuration with its parameter count, the layers are theirs (residual GCN, GELU, dropout, no batch
norm; an (dropout, linear, GELU) x 2 + (dropout, linear) head), the RWSE is concatenated after the atom embedding,
the output ignores node order, and the spec runs end to end with its transform and schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gbench.models.contract import TaskInfo, count_parameters
from gbench.models.tuned_gcn import gcn_tuned

PEPTIDES_INFO = TaskInfo(level="graph", target="multilabel", num_features=9, out_dim=10, edge_dim=3,
                         extras={"categorical_features": True, "categorical_edges": True, "rw_pe": 20})
INFO = TaskInfo(level="graph", target="multiclass", num_features=3, out_dim=2, num_classes=2, extras={"rw_pe": 5})


def _graph(seed: int, n: int = 7):
    from torch_geometric.data import Data
    from torch_geometric.transforms import AddRandomWalkPE

    g = torch.Generator().manual_seed(seed)
    pairs = [(i, (i + 1) % n) for i in range(n)] + [(0, n // 2)]
    ei = torch.tensor(pairs).t()
    ei = torch.cat([ei, ei.flip(0)], 1)
    return AddRandomWalkPE(walk_length=5, attr_name="rw_pe")(Data(x=torch.randn(n, 3, generator=g), edge_index=ei))


def test_peptides_func_spec_is_the_authors_configuration_with_its_parameter_count():
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model

    task = load_task("peptides-func")
    model = resolve_model(load_model("gcn-tuned", "graph"), task)
    assert (model.optim.name, model.optim.lr, model.optim.weight_decay) == ("adamw", 0.001, 0.0)
    assert (model.train.epochs, model.train.patience, model.train.batch_size, model.train.grad_clip) == \
        (250, 250, 200, 1.0)
    assert (model.train.lr_schedule.name, model.train.lr_schedule.warmup) == ("cosine", 5)
    assert model.transforms == ["rw_pe:20"]
    assert task.reference["gcn-tuned"].value == 0.6860
    # Counted from the config: AtomEncoder 174 x 207 (OGB 1.3.6's atom categories; 235 - 28 channels) = 36,018;
    # RWSE batch norm 2 x 20 and Linear(20, 28) 588; 6 GCNConv(235, 235) with bias, 55,460 each; the head's two
    # Linear(235, 235) 110,920 and Linear(235, 10) 2,360.
    assert count_parameters(gcn_tuned(PEPTIDES_INFO, **model.hparams)) == 482_686


def test_layers_are_residual_gcn_gelu_dropout_without_batch_norm_and_the_head_is_mlp_graph():
    model = gcn_tuned(INFO, hidden=16, layers=3, pe_dim=4, head_layers=3)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert norms == [model.rw_norm]  # the raw RWSE normalisation is the only batch norm
    kinds = [type(m).__name__ for m in model.head]
    assert kinds == ["Dropout", "Linear", "GELU", "Dropout", "Linear", "GELU", "Dropout", "Linear"]
    # residual: with every convolution's output zeroed, the node states pass through unchanged
    from torch_geometric.data import Batch

    batch = Batch.from_data_list([_graph(0), _graph(1, n=9)])
    model.eval()
    for conv in model.convs:
        nn.init.zeros_(conv.lin.weight)
        nn.init.zeros_(conv.bias)
    h0 = torch.cat([model.features(batch).float(), model.rw(model.rw_norm(batch.rw_pe))], dim=1)
    pooled = torch.stack([h0[batch.batch == i].mean(0) for i in range(2)])
    torch.testing.assert_close(model(batch), model.head(pooled))


def test_output_ignores_node_order():
    from torch_geometric.data import Batch

    torch.manual_seed(0)
    model = gcn_tuned(INFO, hidden=16, layers=2, pe_dim=4).eval()
    g = _graph(3)
    perm = torch.randperm(g.num_nodes)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(g.num_nodes)
    h = g.clone()
    h.x, h.rw_pe, h.edge_index = g.x[perm], g.rw_pe[perm], inv[g.edge_index]
    torch.testing.assert_close(model(Batch.from_data_list([g])), model(Batch.from_data_list([h])))


def test_a_missing_transform_or_a_bad_setting_is_a_clear_error():
    bare = TaskInfo(level="graph", target="multiclass", num_features=3, out_dim=2, num_classes=2)
    with pytest.raises(ValueError, match="add the transform rw_pe:K"):
        gcn_tuned(bare)
    with pytest.raises(ValueError, match="readout must be one of"):
        gcn_tuned(INFO, readout="avg")
    with pytest.raises(ValueError, match="act 'tanh' is not one of gelu, relu"):
        gcn_tuned(INFO, act="tanh")
    with pytest.raises(ValueError, match="0 < pe_dim < hidden"):
        gcn_tuned(INFO, hidden=16, pe_dim=16)


def test_the_spec_runs_end_to_end_with_its_transform_and_schedule(cli, tmp_path):
    from gbench.results import ResultStore, read_record

    result = cli("run", "--tasks", "colour-motifs", "--models", "gcn-tuned", "--seeds", "1", "--set",
                 "train.epochs=2", "--set", "hidden=32", "--set", "pe_dim=8", "--out", tmp_path / "o")
    assert result.code == 0, result
    (rec,) = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert rec.status == "ok" and rec.epochs_run == 2 and rec.model_spec["transforms"] == ["rw_pe:20"]
    assert rec.model_spec["train"]["lr_schedule"] == {"name": "cosine", "warmup": 5}
