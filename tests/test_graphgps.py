"""GraphGPS in its authors' Peptides-func configuration (gbench/models/graphgps.py, baselines/graph/graphgps.yaml):
the graph-level contract, the parameter count of that configuration, a LapPE that ignores padded eigenpairs and
eigenvector signs in evaluation, attention that stays inside each graph, an output that ignores node order, the
combinatorial Laplacian's eigenvalues, and the spec's optimizer and schedule."""

from __future__ import annotations

import pytest
import torch

from gbench.models.contract import TaskInfo, count_parameters
from gbench.models.graphgps import graphgps

# Peptides-func as the graph runner describes it, with the eig:10:comb transform's width.
PEPTIDES_INFO = TaskInfo(level="graph", target="multilabel", num_features=9, out_dim=10, edge_dim=3,
                         extras={"categorical_features": True, "categorical_edges": True, "eig": 10})
INFO = TaskInfo(level="graph", target="multiclass", num_features=3, out_dim=2, edge_dim=2, num_classes=2,
                extras={"eig": 6})


def _graph(seed: int, n: int = 7, k: int = 6):
    """A graph of `n` nodes (a cycle with chords), both directions, random features, with the eig:k:comb
    transform's eigenpairs."""
    from torch_geometric.data import Data

    from gbench.data.transforms import laplacian_eigenpairs

    g = torch.Generator().manual_seed(seed)
    pairs = [(i, (i + 1) % n) for i in range(n)] + [(0, n // 2), (1, n - 2)]
    ei = torch.tensor(pairs).t()
    ei = torch.cat([ei, ei.flip(0)], 1)
    vals, vecs = laplacian_eigenpairs(ei, n, k, "comb")
    return Data(x=torch.randn(n, 3, generator=g), edge_index=ei, edge_attr=torch.randn(ei.size(1), 2, generator=g),
                eig_vals=vals, eig_vecs=vecs)


def _trained_eval(model):
    from torch_geometric.data import Batch

    model.train()
    with torch.no_grad():
        for seed in range(3):  # batch norm's running statistics move off their initial values
            model(Batch.from_data_list([_graph(seed + 10), _graph(seed + 20, n=9)]))
    return model.eval()


def test_the_spec_runs_end_to_end_with_its_transform_schedule_and_clipping(cli, tmp_path):
    """`gbench check-model` applies no transforms, so the spec runs as a user would run it: two epochs on a
    generated graph task (float features, no edge features: a learned edge state stands in)."""
    from gbench.results import ResultStore, read_record

    result = cli("run", "--tasks", "colour-motifs", "--models", "graphgps", "--seeds", "1", "--set",
                 "train.epochs=2", "--set", "hidden=32", "--out", tmp_path / "o")
    assert result.code == 0, result
    (rec,) = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert rec.status == "ok" and rec.epochs_run == 2 and rec.model_spec["transforms"] == ["eig:10:comb"]
    assert rec.model_spec["train"]["lr_schedule"] == {"name": "cosine", "warmup": 10}


def test_peptides_func_spec_is_graphgps_configuration_with_its_parameter_count():
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model

    model = resolve_model(load_model("graphgps", "graph"), load_task("peptides-func"))
    assert (model.optim.name, model.optim.lr, model.optim.weight_decay) == ("adamw", 0.0003, 0.0)
    assert (model.train.epochs, model.train.batch_size, model.train.grad_clip) == (200, 128, 1.0)
    assert (model.train.lr_schedule.name, model.train.lr_schedule.warmup) == ("cosine", 10)
    assert model.transforms == ["eig:10:comb"]
    # Counted from the config: AtomEncoder 174 x 80 (OGB 1.3.6's atom categories) = 13,920; LapPE Linear(2, 32)
    # and Linear(32, 16) = 624; BondEncoder 13 x 96 = 1,248; per layer GatedGCN 5 x 9,312 + 2 batch norms 384,
    # attention 37,248, 3 batch norms 576, feed-forward 18,624 + 18,528 = 121,920, times 4; head 970.
    assert count_parameters(graphgps(PEPTIDES_INFO, **model.hparams)) == 504_442


def test_padded_eigenpairs_and_eigenvector_signs_do_not_change_the_output():
    """A 5-node graph has 5 real eigenpairs of K = 6: whatever the padded sixth holds, the output is the same; in
    evaluation no sign is flipped, and in training one draw per eigenvector index flips them."""
    from torch_geometric.data import Batch

    torch.manual_seed(0)
    model = _trained_eval(graphgps(INFO, hidden=16, layers=2, heads=2, pe_dim=4))
    small = _graph(1, n=5)
    junk = small.clone()
    junk.eig_vals = small.eig_vals.clone()
    junk.eig_vals[0, 5] = 7.0
    junk.eig_vecs = small.eig_vecs.clone()
    junk.eig_vecs[:, 5] = torch.randn(5)
    with torch.no_grad():
        a = model(Batch.from_data_list([small, _graph(2)]))
        b = model(Batch.from_data_list([junk, _graph(2)]))
    assert torch.equal(a, b)
    pe = model.pe.train()
    batch = Batch.from_data_list([small])
    torch.manual_seed(1)
    flipped = pe(batch)
    assert not torch.allclose(flipped, model.pe.eval()(batch))  # some sign was flipped in training


def test_attention_stays_inside_each_graph_and_node_order_does_not_matter():
    from torch_geometric.data import Batch

    torch.manual_seed(0)
    model = _trained_eval(graphgps(INFO, hidden=16, layers=2, heads=2, pe_dim=4))
    a, b = _graph(3), _graph(4, n=9)
    with torch.no_grad():
        alone = model(Batch.from_data_list([a]))
        together = model(Batch.from_data_list([a, b]))
        perm = torch.randperm(a.num_nodes)
        inv = torch.argsort(perm)
        shuffled = a.clone()
        shuffled.x, shuffled.eig_vecs = a.x[perm], a.eig_vecs[perm]
        shuffled.edge_index = inv[a.edge_index]
        moved = model(Batch.from_data_list([shuffled, b]))
    assert torch.allclose(alone[0], together[0], atol=1e-5)
    assert torch.allclose(together, moved, atol=1e-5)


def test_combinatorial_laplacian_eigenvalues_of_a_cycle():
    """C6's L = D - A has eigenvalues 2 - 2 cos(2 pi j / 6): 0, 1, 1, 3, 3, 4; pairs past the node count are 0."""
    from gbench.data.transforms import laplacian_eigenpairs

    ring = torch.tensor([[i for i in range(6)] + [(i + 1) % 6 for i in range(6)],
                         [(i + 1) % 6 for i in range(6)] + [i for i in range(6)]])
    vals, vecs = laplacian_eigenpairs(ring, 6, 8, "comb")
    assert vals[0].tolist() == pytest.approx([0, 1, 1, 3, 3, 4, 0, 0], abs=1e-5)
    assert vecs.shape == (6, 8) and torch.allclose(vecs[:, :6].T @ vecs[:, :6], torch.eye(6), atol=1e-5)
    sym, _ = laplacian_eigenpairs(ring, 6, 6)
    assert sym[0].tolist() == pytest.approx([0, 0.5, 0.5, 1.5, 1.5, 2], abs=1e-5)  # the normalized one, as before


def test_transformer_lappe_spec_is_lrgbs_configuration_with_its_parameter_count():
    from gbench.specs import load_model, load_task
    from gbench.specs.resolution import resolve_model

    task = load_task("peptides-func")
    model = resolve_model(load_model("transformer-lappe", "graph"), task)
    assert (model.optim.name, model.optim.lr, model.optim.weight_decay) == ("adamw", 0.0003, 0.0)
    assert (model.train.epochs, model.train.batch_size, model.train.grad_clip) == (500, 128, None)
    schedule = model.train.lr_schedule  # LRGB's reduce_on_plateau
    assert (schedule.name, schedule.gamma, schedule.patience, schedule.min_lr) == ("plateau", 0.5, 20, 1e-5)
    assert model.transforms == ["eig:10:comb"] and model.hparams["local"] == "none"
    assert task.reference["transformer-lappe"].value == 0.6326
    # LRGB's aggr_results give 488,426: AtomEncoder 173 x 104 = 17,992, LapPE 624, BondEncoder 13 x 120 = 1,560,
    # per layer attention 58,080 + 3 batch norms 720 + feed-forward 57,960, times 4, head 1,210. Here the unread
    # Bond encoder and each layer's unread first batch norm are not built, and OGB 1.3.6 has 174 atom categories.
    assert count_parameters(graphgps(PEPTIDES_INFO, **model.hparams)) == 488_426 - 1_560 - 4 * 240 + 104


def test_without_a_local_model_the_layers_are_attention_alone_and_never_read_edges():
    from torch_geometric.data import Batch

    torch.manual_seed(0)
    model = graphgps(INFO, hidden=16, heads=2, pe_dim=4, local="none")
    assert model.edge_enc is None and model.edge_const is None
    assert all(layer.local is None and layer.norm_local is None for layer in model.layers)
    model = _trained_eval(model)
    a, b = _graph(1), _graph(2, n=9)
    other = [g.clone() for g in (a, b)]
    for g in other:
        g.edge_attr = torch.randn_like(g.edge_attr) * 10
    torch.testing.assert_close(model(Batch.from_data_list([a, b])), model(Batch.from_data_list(other)))
    with pytest.raises(ValueError, match="local 'gine' is not one of gatedgcn, none"):
        graphgps(INFO, local="gine")


def test_transformer_lappe_runs_end_to_end(cli, tmp_path):
    from gbench.results import ResultStore, read_record

    result = cli("run", "--tasks", "colour-motifs", "--models", "transformer-lappe", "--seeds", "1", "--set",
                 "train.epochs=2", "--set", "hidden=32", "--out", tmp_path / "o")
    assert result.code == 0, result
    (rec,) = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert rec.status == "ok" and rec.epochs_run == 2 and rec.model_spec["hparams"]["local"] == "none"
