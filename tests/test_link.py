"""Link prediction: exact heuristics on ogbl-ddi, no evaluation edge in any graph a model sees, seeded negatives and
splits, the runner end to end on the generated task, and check-model at link level."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import missing_data, seed_tables

from gbench.data.link import random_link_split, undirected, unique_pairs
from gbench.results import ResultStore, read_record
from gbench.train.link import remove_pairs, sample_training_negatives

TINY = ["--tasks", "sbm-link", "--set", "train.epochs=4"]


def _keys(pairs: torch.Tensor, n: int) -> set[int]:
    lo, hi = torch.minimum(pairs[0], pairs[1]), torch.maximum(pairs[0], pairs[1])
    return set((lo * n + hi).tolist())


def _records(out: Path):
    return sorted((read_record(p) for p in ResultStore(out).record_paths()), key=lambda r: (r.model, r.seed))


def _ctx(root=None):
    from gbench.data.staging import DataContext

    return DataContext.from_env(root)


def test_ddi_heuristics_match_published_hits20(shared_data):
    """CN, AA and RA are deterministic: test Hits@20 on ogbl-ddi's official split equals the published values to four
    decimals (NCN paper, arXiv 2302.00890). Scored the way the runner scores them: the model's predict() on the
    protocol's test graph, ogb.Evaluator through the task's metric."""
    if not (shared_data / "ogb" / "ogbl_ddi" / "raw").is_dir():
        missing_data("ogbl-ddi not in the data root")
    from gbench.data import load_task_data
    from gbench.models.contract import build_model
    from gbench.specs import load_model, load_task
    from gbench.train.base import task_metrics
    from gbench.train.link import link_task_info, model_inputs, ranking_metrics

    task = load_task("ogbl-ddi")
    td = load_task_data(task, _ctx(shared_data))
    assert td.info["split"] == {"train": 1067911, "val": 133489, "test": 133489, "val_neg": 101882,
                                "test_neg": 95599}
    data = model_inputs(td, "test", torch.device("cpu"))
    assert torch.equal(data.edge_index, undirected(td.train_pos, td.num_nodes))  # training edges only
    got = {}
    for name in ("common-neighbours", "adamic-adar", "resource-allocation"):
        model = build_model(load_model(name, "link").implementation, link_task_info(td, task), {})
        model.fit(model_inputs(td, "train", torch.device("cpu")), td.train_pos)
        pos = model.predict(data, td.pos["test"]).numpy()
        neg = model.predict(data, td.neg["test"]).numpy()
        got[name] = round(ranking_metrics(task_metrics(task), pos, neg, None)["hits@20"], 4)
    assert got == {"common-neighbours": 0.1773, "adamic-adar": 0.1861, "resource-allocation": 0.0623}


RECORDER = textwrap.dedent("""
    import torch

    SEEN = []  # (phase, edge_index, pairs) for every call the runner makes


    class Recorder(torch.nn.Module):
        mask_target_edges = MASK

        def __init__(self, info):
            super().__init__()
            self.emb = torch.nn.Embedding(info.num_nodes, 8)
            self.lin = torch.nn.Linear(8, 1)

        def encode(self, data):
            SEEN.append(("encode", "train" if self.training else "eval", data.edge_index.clone(), None))
            return self.emb.weight

        def score(self, z, pairs, data):
            SEEN.append(("score", "train" if self.training else "eval", data.edge_index.clone(), pairs.clone()))
            return self.lin(z[pairs[0]] * z[pairs[1]]).view(-1)


    def build(info):
        return Recorder(info)
""")


def _recorded_run(cli, tmp_path, mask: bool):
    from gbench.models.contract import load_factory

    path = tmp_path / f"recorder_{int(mask)}.py"
    path.write_text(RECORDER.replace("MASK", str(mask)))
    result = cli("run", *TINY, "--model", f"{path}:build", "--seeds", "1", "--out", tmp_path / "out")
    assert result.code == 0, result
    return load_factory(f"{path}:build").__globals__["SEEN"]


def test_no_validation_or_test_edge_reaches_the_model_graph(cli, tmp_path):
    from gbench.data import load_task_data
    from gbench.specs import load_task

    seen = _recorded_run(cli, tmp_path, mask=False)
    td = load_task_data(load_task("sbm-link"), _ctx())
    n = td.num_nodes
    held_out = _keys(td.pos["val"], n) | _keys(td.pos["test"], n)
    assert held_out and {"train", "eval"} == {mode for _, mode, _, _ in seen}
    for _, _, edge_index, _ in seen:
        assert not (_keys(edge_index, n) & held_out)
        assert _keys(edge_index, n) == _keys(td.train_pos, n)  # the whole training graph, nothing else
    scored = set().union(*(_keys(p, n) for kind, mode, _, p in seen if kind == "score" and mode == "eval"))
    assert held_out <= scored  # the held-out pairs were scored, only never seen as edges


def test_target_edges_are_removed_from_the_training_graph_when_a_model_asks(cli, tmp_path):
    from gbench.data import load_task_data
    from gbench.specs import load_task

    seen = _recorded_run(cli, tmp_path, mask=True)
    n = load_task_data(load_task("sbm-link"), _ctx()).num_nodes
    train_scores = [(ei, p) for kind, mode, ei, p in seen if kind == "score" and mode == "train"]
    positives = train_scores[0::2]  # the runner scores each batch's positives, then its negatives
    assert positives and all(not (_keys(p, n) & _keys(ei, n)) for ei, p in positives)


def test_training_negatives_are_seeded_and_leave_global_state_alone():
    graph = undirected(torch.randint(0, 50, (2, 200), generator=torch.Generator().manual_seed(0)), 50)
    state = random.getstate()
    a = sample_training_negatives(graph, 50, 64, "sparse", seed=3, epoch=1, batch=0)
    assert random.getstate() == state
    b = sample_training_negatives(graph, 50, 64, "sparse", seed=3, epoch=1, batch=0)
    assert torch.equal(a, b) and a.shape == (2, 64)
    assert not torch.equal(a, sample_training_negatives(graph, 50, 64, "sparse", seed=4, epoch=1, batch=0))
    assert not torch.equal(a, sample_training_negatives(graph, 50, 64, "sparse", seed=3, epoch=2, batch=0))
    assert not (_keys(a, 50) & _keys(graph, 50))  # never an edge of the training graph


def test_random_link_split_is_disjoint_complete_and_deterministic():
    from gbench.data.synthetic import generate_sbm

    g = generate_sbm(num_nodes=300, num_classes=3, avg_degree=6.0, homophily=0.7, degree_exponent=None,
                     feature_dim=2, feature_signal=1.0, seed=1)
    n = 300
    s = random_link_split(g["edge_index"], n, val=0.05, test=0.10, seed=7)
    parts = {k: _keys(v, n) for k, v in s.items()}
    edges = _keys(unique_pairs(g["edge_index"], n), n)
    assert parts["train_pos"] | parts["val_pos"] | parts["test_pos"] == edges
    assert sum(len(parts[k]) for k in ("train_pos", "val_pos", "test_pos")) == len(edges)
    assert len(parts["test_pos"]) == round(0.10 * len(edges)) and len(parts["val_pos"]) == round(0.05 * len(edges))
    assert not (parts["val_neg"] & edges) and not (parts["test_neg"] & edges) and not (parts["val_neg"] &
                                                                                      parts["test_neg"])
    assert len(parts["val_neg"]) == len(parts["val_pos"]) and len(parts["test_neg"]) == len(parts["test_pos"])
    again = random_link_split(g["edge_index"], n, val=0.05, test=0.10, seed=7)
    assert all(torch.equal(s[k], again[k]) for k in s)
    other = random_link_split(g["edge_index"], n, val=0.05, test=0.10, seed=8)
    assert not torch.equal(s["test_pos"], other["test_pos"])


def test_remove_pairs_drops_both_directions():
    graph = undirected(torch.tensor([[0, 1, 2], [1, 2, 3]]), 4)
    kept = remove_pairs(graph, torch.tensor([[2], [1]]), 4)
    assert _keys(kept, 4) == {0 * 4 + 1, 2 * 4 + 3} and kept.size(1) == 4


def test_run_on_the_generated_link_task_end_to_end(cli, tmp_path):
    for run in ("a", "b"):
        result = cli("run", *TINY, "--models", "common-neighbours,gcn", "--seeds", "1", "--out", tmp_path / run)
        assert result.code == 0, result
    a, b = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert [r.model for r in a] == ["common-neighbours", "gcn"] and all(r.status == "ok" for r in a)
    cn, gcn = a
    assert cn.epochs_run == 0 and set(cn.metrics) == {"val", "test"}
    assert 0.0 <= gcn.metrics["test"]["hits@20"] <= 1.0 and 0.5 < gcn.metrics["test"]["roc_auc"] <= 1.0
    assert gcn.extra["train_negatives"]["function"] == "torch_geometric.utils.negative_sampling"
    assert gcn.extra["message_passing"] == {"train": "train", "val": "train", "test": "train"}
    assert gcn.extra["split_seed"] == 0 and gcn.selected_epoch is not None and gcn.num_params > 0
    assert [r.metrics for r in a] == [r.metrics for r in b]  # seeded negatives: bitwise identical reruns
    board = pd.read_csv(tmp_path / "a" / "leaderboard.csv")
    assert set(board.model) == {"common-neighbours", "gcn"} and set(board.metric) == {"hits@20"}


def test_check_model_link_level_catches_a_broken_model(cli, tmp_path):
    assert cli("check-model", "gbench.models.link:ncn", "--level", "link").code == 0
    assert cli("check-model", "gbench.models.link:adamic_adar", "--level", "link").code == 0
    broken = tmp_path / "broken.py"
    broken.write_text(textwrap.dedent("""
        import torch

        class TwoColumns(torch.nn.Module):
            def __init__(self, info):
                super().__init__()
                self.emb = torch.nn.Embedding(info.num_nodes, 4)

            def encode(self, data):
                return self.emb.weight

            def score(self, z, pairs, data):
                return z[pairs[0]] * z[pairs[1]]  # [P, 4]: forgot to reduce to one logit per pair

        def build(info):
            return TwoColumns(info)
    """))
    result = cli("check-model", f"{broken}:build", "--level", "link")
    assert result.code != 0
    assert "expected [P=" in result.out + result.err


def test_ogb_link_tasks_fail_offline_with_the_files_expected(shared_data):
    from gbench.data import load_task_data
    from gbench.errors import DatasetUnavailable
    from gbench.specs import load_task

    with pytest.raises(DatasetUnavailable, match="ogbl_collab"):
        load_task_data(load_task("ogbl-collab"), _ctx(shared_data))


def test_validation_edges_as_input_only_where_allowed(tmp_path):
    from gbench.data import load_task_data
    from gbench.errors import SpecError
    from gbench.specs import load_task_file, load_task

    spec = load_task("sbm-link").model_dump(mode="json")
    spec["dataset"] = {"source": "ogb-link", "name": "ogbl-ddi"}
    spec["split"] = {"kind": "official", "params": {"use_valedges_as_input": True}}
    path = tmp_path / "ddi-valinput.yaml"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError, match="only for ogbl-collab"):
        load_task_data(load_task_file(path), _ctx())
    assert load_task("ogbl-collab-valinput").split.params["use_valedges_as_input"] is True
    assert load_task("ogbl-collab").split.params["use_valedges_as_input"] is False


def test_validation_edges_join_only_the_test_graph_when_allowed():
    from gbench.data.link import message_passing_graphs

    train, val = torch.tensor([[0, 1], [1, 2]]), torch.tensor([[2], [3]])
    graphs, described = message_passing_graphs(train, val, 4, val_as_input=False)
    assert all(_keys(g, 4) == _keys(train, 4) for g in graphs.values()) and set(described.values()) == {"train"}
    graphs, described = message_passing_graphs(train, val, 4, val_as_input=True)
    assert _keys(graphs["train"], 4) == _keys(graphs["val"], 4) == _keys(train, 4)
    assert _keys(graphs["test"], 4) == _keys(train, 4) | _keys(val, 4) and described["test"] == "train+valid"


def test_ncn_drops_sparse_features_as_dense_dropout_does_and_multiplies_them_sparse():
    from gbench.models.contract import TaskInfo
    from gbench.models.link import ncn

    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(300, 200, generator=gen) < 0.02).float() * torch.rand(300, 200, generator=gen)  # ~2 % non-zero
    info = TaskInfo(level="link", target="binary", num_features=200, out_dim=1, num_nodes=300)
    torch.manual_seed(0)
    model = ncn(info, hidden=200, input_dropout=0.5)
    with torch.no_grad():
        model.xlin.weight.copy_(torch.eye(200))
        model.xlin.bias.zero_()
    model.eval()
    assert torch.allclose(model.input_layer(x), x, atol=1e-6)  # no dropout in evaluation
    model.train()
    torch.manual_seed(1)
    out = model.input_layer(x).detach()
    assert (out[x == 0] == 0).all()  # a zero stays zero
    kept = out[x != 0] != 0
    assert torch.allclose(out[x != 0][kept], 2 * x[x != 0][kept])  # a kept entry is scaled by 1 / (1 - p)
    from scipy.stats import binomtest

    assert binomtest(int(kept.sum()), kept.numel(), 0.5).pvalue > 1e-3  # each non-zero kept with probability 1 - p
    # The weights are trained through the sparse product: with W = I the output is the dropped x itself, and
    # d sum(x_dropped W^T) / dW[h, f] is the column sum of x_dropped for every h.
    model.xlin.weight.grad = None
    torch.manual_seed(2)
    y = model.input_layer(x)
    y.sum().backward()
    assert torch.allclose(model.xlin.weight.grad, y.detach().sum(0).expand(200, 200), atol=1e-5)


def test_the_70_10_20_tasks_have_the_split_sizes_of_ncns_code(shared_data, tmp_path):
    """randomsplit() in NCN's code: train_test_split_edges(0.2, 0.2) takes floor(0.2 M) validation and test
    positives and as many non-edges each, then moves half of the validation positives into training."""
    import math

    from gbench.data import load_task_data
    from gbench.specs import load_task

    for task_id in ("cora-link-70-10-20", "citeseer-link-70-10-20"):
        td = load_task_data(load_task(task_id), _ctx(shared_data))
        m = td.info["num_edges"]
        code = {"test": math.floor(0.2 * m), "val": int(math.floor(0.2 * m) * 0.5), "val_neg": math.floor(0.2 * m),
                "test_neg": math.floor(0.2 * m)}
        sizes = {k: td.info["split"][k] for k in code}
        assert all(abs(sizes[k] - code[k]) <= 1 for k in code), (task_id, sizes, code)
        assert td.info["split"]["train"] == m - sizes["val"] - sizes["test"]
        assert td.neg["val"].size(1) == sizes["val_neg"] and td.pos["val"].size(1) == sizes["val"]
    # A copied task with a bad value is refused, naming the field.
    from gbench.errors import SpecError
    from gbench.specs.catalog import load_task_file

    text = (Path(__file__).parents[1] / "tasks" / "link" / "citeseer-link-70-10-20.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("val_neg_ratio: 2.0", "val_neg_ratio: -2"))
    with pytest.raises(SpecError, match="val_neg_ratio"):
        load_task_file(bad)


def test_a_task_with_num_splits_gives_each_seed_its_own_split_and_records_which(cli, tmp_path):
    """NCN's code draws a new split for every run; `split.params.num_splits` does so for job seed s with split seed
    seed + (s mod num_splits). A one-split task keeps one split for every seed."""
    from gbench.data import load_task_data
    from gbench.data.link import split_for_seed
    from gbench.specs import load_task
    from gbench.specs.catalog import load_task_file

    fixed = load_task("sbm-link")
    assert split_for_seed(fixed, 3) is fixed
    text = (Path(__file__).parents[1] / "tasks" / "link" / "sbm-link.yaml").read_text()
    path = tmp_path / "sbm-link-splits.yaml"
    path.write_text(text.replace("id: sbm-link", "id: sbm-link-splits").replace(
        "params: {val: 0.05, test: 0.10, seed: 0, neg_ratio: 1.0}",
        "params: {val: 0.05, test: 0.10, seed: 0, num_splits: 3, neg_ratio: 1.0}"))
    task = load_task_file(path)
    data = {s: load_task_data(split_for_seed(task, s), _ctx()) for s in (0, 1, 4)}
    n = data[0].num_nodes
    assert [data[s].split_seed for s in (0, 1, 4)] == [0, 1, 1]
    assert _keys(data[1].pos["test"], n) == _keys(data[4].pos["test"], n)  # 4 mod 3 = 1
    assert _keys(data[0].pos["test"], n) != _keys(data[1].pos["test"], n)
    one = load_task_data(fixed, _ctx())  # split 0 of the per-seed task is the one-split task's split
    assert all(torch.equal(one.pos[k], data[0].pos[k]) and torch.equal(one.neg[k], data[0].neg[k]) for k in one.pos)
    result = cli("run", "--tasks", path, "--models", "common-neighbours", "--seeds", "2", "--out", tmp_path / "o")
    assert result.code == 0, result
    records = _records(tmp_path / "o")
    assert [r.extra["split_seed"] for r in records] == [0, 1]
    assert records[0].metrics["test"] != records[1].metrics["test"]  # a deterministic heuristic: only the split
    listed = cli("results", "seeds", tmp_path / "o")  # says which split each seed ran on
    assert listed.code == 0, listed
    assert [[r["seed"], r["split"]] for r in seed_tables(listed.out)[path.stem]] == [["0", "0"], ["1", "1"]]
    fixed_out = cli("run", "--tasks", "sbm-link", "--models", "common-neighbours", "--seeds", "2", "--out",
                    tmp_path / "f")
    assert fixed_out.code == 0 and "split" not in cli("results", "seeds", tmp_path / "f").out  # one split: no column


def test_ncn_in_the_authors_code_form_wires_the_codes_network_and_gives_its_predictor_its_own_rate():
    """architecture: authors-code (gbench.models.ncn_code): z = w * Â (W x + b) with no weights in the propagation;
    the common-neighbour sum runs over x = z + MLP_x(z) while the pair branch takes z_i * z_j itself; the two
    branches are summed (beta * cn + ij) before the head; the predictor trains at predictor_lr."""
    from gbench.data.inputs import ModelInputs
    from gbench.models.contract import TaskInfo
    from gbench.models.link import ncn
    from gbench.specs.schema import OptimSpec
    from gbench.train.base import make_optimizer

    # 0-1, 0-2, 1-2, 1-3, 2-3, 3-4: the pair (0, 3) has the common neighbours 1 and 2; (0, 4) has none.
    edges = torch.tensor([[0, 0, 1, 1, 2, 3], [1, 2, 2, 3, 3, 4]])
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    info = TaskInfo(level="link", target="binary", num_features=6, out_dim=1, num_nodes=5)
    torch.manual_seed(0)
    model = ncn(info, hidden=8, architecture="authors-code", head_layers=2, predictor_lr=0.5).eval()
    x = torch.randn(5, 6)
    data = ModelInputs(x=x, edge_index=edge_index, num_nodes=5)
    with torch.no_grad():
        z = model.encode(data)
        a = torch.eye(5)
        a[edge_index[0], edge_index[1]] = 1
        norm = a.sum(1).rsqrt()
        want = model.encoder.jk[0] * (norm[:, None] * a * norm[None, :]) @ model.xlin(x)
        assert torch.allclose(z, want, atol=1e-5)
        p = model.predictor
        node = z + p.node_mlp(z)
        for (i, j), common in (((0, 3), [1, 2]), ((0, 4), [])):
            cn = node[common].sum(0) if common else torch.zeros(8)
            logit = p.head(p.beta * p.cn_mlp(cn[None]) + p.ij_mlp((z[i] * z[j])[None])).view(-1)
            assert torch.allclose(model.score(z, torch.tensor([[i], [j]]), data), logit, atol=1e-5), (i, j)
    groups = make_optimizer(OptimSpec(lr=0.01), model.param_groups()).param_groups
    assert [g["lr"] for g in groups] == [0.01, 0.5]
    assert {id(t) for t in groups[1]["params"]} == {id(t) for t in model.predictor.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    # the gbench form keeps one rate unless asked, and refuses the code form's own settings; a typo is named
    assert not isinstance(ncn(info, hidden=8).param_groups(), list)
    with pytest.raises(ValueError, match="head_layers and tail_dropout belong to architecture 'authors-code'"):
        ncn(info, hidden=8, head_layers=2)
    with pytest.raises(ValueError, match="hparams.architecture must be one of gbench, authors-code"):
        ncn(info, hidden=8, architecture="author-code")


def test_ncn_code_form_keeps_a_common_neighbour_when_both_its_edges_survive():
    """The code drops adjacency entries before intersecting rows (--preedp p): a common neighbour survives with
    probability (1 - p)^2 and still counts 1."""
    from scipy.stats import binomtest

    from gbench.models.contract import TaskInfo
    from gbench.models.link import _quiet_sparse, ncn

    info = TaskInfo(level="link", target="binary", num_features=4, out_dim=1, num_nodes=400)
    model = ncn(info, hidden=4, architecture="authors-code", cn_edge_dropout=0.4).train()
    seen = {}

    def predictor(s, z, pairs, x=None):
        seen["s"] = s
        return torch.zeros(pairs.size(1))

    model.predictor.forward = predictor
    idx = torch.stack([torch.arange(4000) // 10, torch.arange(4000) % 400])
    with _quiet_sparse():
        s = torch.sparse_coo_tensor(idx, torch.ones(4000), (400, 400)).coalesce()
    torch.manual_seed(0)
    model.score_neighbours(s, torch.zeros(400, 4), torch.zeros(2, 400, dtype=torch.long))
    kept = seen["s"].values()
    assert (kept == 1).all()
    assert binomtest(kept.numel(), 4000, 0.36).pvalue > 1e-3
