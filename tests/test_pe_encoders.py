"""SignNet and SPE positional encoders (gbench/models/pe.py) over the `eig:K` transform: the invariances each
promises, permutation equivariance, masked padding, and a short end-to-end run of their model specs."""

from __future__ import annotations

import pytest
import torch

K = 16


def _graph(edges: list[tuple[int, int]], n: int):
    from gbench.data.inputs import ModelInputs

    ei = torch.tensor(edges, dtype=torch.long).t()
    return ModelInputs(edge_index=torch.cat([ei, ei.flip(0)], 1), num_nodes=n)


def _cycle(n: int):
    return _graph([(i, (i + 1) % n) for i in range(n)], n)


def _random_graph(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    edges = [(i, i + 1) for i in range(n - 1)]  # a path keeps it connected
    edges += [(i, j) for i in range(n) for j in range(i + 2, n) if torch.rand(1, generator=gen) < 0.2]
    return _graph(edges, n)


_keys = iter(range(10**6))


def _with_eig(graphs: list):
    from gbench.data.transforms import apply_transforms

    out, extras = apply_transforms(graphs, ["degree_onehot:100", f"eig:{K}"], None, f"test-pe-{next(_keys)}")
    return out, extras


def _model(pe: str, extras: dict, arch: str = "gin"):
    from gbench.models import graph
    from gbench.models.contract import TaskInfo

    torch.manual_seed(0)
    info = TaskInfo(level="graph", target="regression", num_features=101, out_dim=1, extras=extras)
    model = getattr(graph, arch)(info, hidden=32, layers=2, pe=pe)
    return model.eval()


def _encode(model, graphs: list) -> torch.Tensor:
    """The encoder's node encoding [N, hidden] for the graphs batched together."""
    from torch_geometric.data import Batch

    with torch.no_grad():
        return model.encoder.spectral(Batch.from_data_list(graphs))


def _replace(g, **attrs):
    out = g.clone()
    for k, v in attrs.items():
        setattr(out, k, v)
    return out


def test_eig_transform_gives_sorted_eigenpairs_padded_below_k():
    (c6, small), extras = _with_eig([_cycle(6), _random_graph(20, 1)])
    assert extras["eig"] == K
    assert c6.eig_vecs.shape == (6, K) and c6.eig_vals.shape == (1, K)
    expected = torch.tensor([0.0, 0.5, 0.5, 1.5, 1.5, 2.0])  # 1 - cos(2 pi k / 6)
    assert torch.allclose(c6.eig_vals[0, :6], expected, atol=1e-6)
    assert (c6.eig_vals[0, 6:] == 0).all() and (c6.eig_vecs[:, 6:] == 0).all()
    v = c6.eig_vecs[:, :6]
    assert torch.allclose(v.t() @ v, torch.eye(6), atol=1e-5)
    assert (small.eig_vals[0, 1:] >= small.eig_vals[0, :-1]).all()


@pytest.mark.parametrize("arch", ["gin", "gcn", "gat", "gps"])
def test_signnet_ignores_eigenvector_signs(arch):
    graphs, extras = _with_eig([_random_graph(12, 0), _random_graph(9, 3)])
    model = _model("signnet", extras, arch)
    before = _encode(model, graphs)
    gen = torch.Generator().manual_seed(7)
    for _ in range(5):
        flips = [torch.where(torch.rand(K, generator=gen) < 0.5, -1.0, 1.0) for _ in graphs]
        flipped = [_replace(g, eig_vecs=g.eig_vecs * f) for g, f in zip(graphs, flips)]
        assert any((f < 0).any() for f in flips)
        assert torch.allclose(_encode(model, flipped), before, atol=1e-5)
    # The model's prediction too, and in training mode (phi sees v and -v together, so even its statistics match).
    from torch_geometric.data import Batch

    model.train()
    torch.manual_seed(1)
    a = model.encoder.spectral(Batch.from_data_list(graphs))
    torch.manual_seed(1)
    b = model.encoder.spectral(Batch.from_data_list([_replace(g, eig_vecs=-g.eig_vecs) for g in graphs]))
    assert torch.allclose(a, b, atol=1e-5)


def _rotate(vecs: torch.Tensor, cols: list[int], seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(len(cols), len(cols), generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    out = vecs.clone()
    out[:, cols] = (vecs[:, cols].double() @ q).float()
    return out


def test_spe_is_invariant_to_a_basis_rotation_within_an_eigenspace():
    (c6,), extras = _with_eig([_cycle(6)])  # eigenvalues 0, .5, .5, 1.5, 1.5, 2
    model = _model("spe", extras)
    before = _encode(model, [c6])
    for cols, seed in (([1, 2], 0), ([3, 4], 1), ([1, 2], 2)):
        rotated = _rotate(c6.eig_vecs, cols, seed)
        assert (rotated - c6.eig_vecs).abs().max() > 0.1
        assert torch.allclose(_encode(model, [_replace(c6, eig_vecs=rotated)]), before, atol=1e-5)
    # A rotation mixing two different eigenvalues is not a symmetry: the encoding must see it.
    mixed = _encode(model, [_replace(c6, eig_vecs=_rotate(c6.eig_vecs, [2, 3], 0))])
    assert (mixed - before).abs().max() > 1e-3
    # SignNet promises signs only: the same rotation moves it.
    signnet = _model("signnet", extras)
    s_before = _encode(signnet, [c6])
    s_rot = _encode(signnet, [_replace(c6, eig_vecs=_rotate(c6.eig_vecs, [1, 2], 0))])
    assert (s_rot - s_before).abs().max() > 1e-4


def test_spe_is_stable_under_a_small_perturbation():
    graphs, extras = _with_eig([_random_graph(15, 2), _cycle(6)])
    model = _model("spe", extras)
    before = _encode(model, graphs)
    gen = torch.Generator().manual_seed(3)
    for eps in (1e-3, 1e-4):
        noisy = [_replace(g, eig_vals=g.eig_vals + eps * torch.randn(g.eig_vals.shape, generator=gen),
                          eig_vecs=g.eig_vecs + eps * torch.randn(g.eig_vecs.shape, generator=gen))
                 for g in graphs]
        change = (_encode(model, noisy) - before).abs().max().item()
        # Lipschitz: the change shrinks with the perturbation, and stays a small multiple of it.
        assert change < 20 * eps, (eps, change)


@pytest.mark.parametrize("pe", ["signnet", "spe"])
def test_encoders_are_permutation_equivariant(pe):
    g = _random_graph(11, 5)
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    inverse = torch.argsort(perm)  # node i of the permuted graph is node perm[i] of the original
    permuted = _replace(g, edge_index=inverse[g.edge_index])
    (g_e, p_e), extras = _with_eig([g, permuted])
    evals = g_e.eig_vals[0, :11]
    assert (evals[1:] - evals[:-1]).min() > 1e-3  # simple spectrum: eigenvectors unique up to sign
    model = _model(pe, extras)
    assert torch.allclose(_encode(model, [p_e]), _encode(model, [g_e])[perm], atol=1e-4)


@pytest.mark.parametrize("pe", ["signnet", "spe"])
def test_padded_eigenpairs_contribute_nothing(pe):
    (small, big), extras = _with_eig([_random_graph(5, 4), _random_graph(30, 6)])
    model = _model(pe, extras)
    alone = _encode(model, [small])
    # Whatever sits in the padded slots (5..15) is masked by the node count.
    gen = torch.Generator().manual_seed(0)
    vals, vecs = small.eig_vals.clone(), small.eig_vecs.clone()
    vals[0, 5:] = torch.rand(K - 5, generator=gen) * 2
    vecs[:, 5:] = torch.randn(5, K - 5, generator=gen)
    assert torch.allclose(_encode(model, [_replace(small, eig_vals=vals, eig_vecs=vecs)]), alone, atol=1e-5)
    # And a graph's encoding does not depend on the larger graph it is batched with.
    together = _encode(model, [small, big])
    assert torch.allclose(together[:5], alone, atol=1e-5)
    assert torch.allclose(together[5:], _encode(model, [big]), atol=1e-4)


def _dense_reference(encoder, g) -> torch.Tensor:
    """The encoder's formula on one graph written out with dense [n, n] matrices and only its n real eigenpairs:
    what the batched encoders (every graph's items packed together, no padding in the networks) must equal."""
    from gbench.models.pe import SignNetEncoder

    n = g.num_nodes
    r = min(n, K)  # the real eigenpairs
    vecs, vals = g.eig_vecs[:, :r], g.eig_vals[0, :r]
    adj = torch.zeros(n, n)
    adj[g.edge_index[0], g.edge_index[1]] = 1.0
    adj = ((adj + adj.t()) > 0).float() * (1 - torch.eye(n))
    neighbours = lambda h: torch.einsum("ab,b...->a...", adj, h)  # noqa: E731
    if isinstance(encoder, SignNetEncoder):
        lam = vals.expand(n, r)
        phi = encoder.phi(torch.stack([torch.cat([vecs, -vecs], 1), torch.cat([lam, lam], 1)], -1), neighbours)
        per_pair = phi[:, :r] + phi[:, r:]  # [n, r, channels]
        padded = torch.cat([per_pair, per_pair.new_zeros(n, K - r, per_pair.size(2))], 1)
        return encoder.rho(padded.reshape(n, -1))
    z = torch.cat([psi(vals.unsqueeze(-1)) for psi in encoder.psi], -1)  # [r, m]
    w = torch.einsum("ik,kl,jk->ijl", vecs, z, vecs)  # [n (node), n (anchor), m]
    return encoder.rho(w, neighbours).sum(1)


@pytest.mark.parametrize("pe", ["signnet", "spe"])
def test_batched_encoders_equal_the_formula_on_each_graph_alone(pe):
    from torch_geometric.data import Batch

    sizes = [7, 19, 3, 12, 16, 9]  # below, at and above K: padded eigenpairs and padded blocks both occur
    graphs, extras = _with_eig([_random_graph(n, 10 + i) for i, n in enumerate(sizes)])
    encoder = _model(pe, extras).encoder.spectral.encoder
    with torch.no_grad():
        batched = encoder(Batch.from_data_list(graphs))
        expected = torch.cat([_dense_reference(encoder, g) for g in graphs])
    assert batched.shape == expected.shape
    assert torch.allclose(batched, expected, atol=1e-5, rtol=1e-5)


def test_pe_needs_the_eig_transform_and_known_settings():
    from gbench.errors import ModelContractError
    from gbench.models.contract import TaskInfo, build_model

    info = TaskInfo(level="graph", target="regression", num_features=101, out_dim=1, extras={"degree_onehot": 100})
    with pytest.raises(ModelContractError, match="add 'eig:16' to the model spec's transforms"):
        build_model("gbench.models.graph:gcn", info, {"pe": "spe"})
    info = TaskInfo(level="graph", target="regression", num_features=101, out_dim=1, extras={"eig": 16})
    with pytest.raises(ModelContractError, match="pe_args: rho_hidden not known for pe: spe"):
        build_model("gbench.models.graph:gcn", info, {"pe": "spe", "pe_args": {"rho_hidden": 8}})
    with pytest.raises(ModelContractError, match="pe 'lap' is not known"):
        build_model("gbench.models.graph:gcn", info, {"pe": "lap"})
    with pytest.raises(ModelContractError, match="pe_args is given without pe"):
        build_model("gbench.models.graph:gat", info, {"pe_args": {"layers": 2}})
    with pytest.raises(ModelContractError, match="not available with ogb_conv or virtual_node"):
        build_model("gbench.models.graph:gin", info, {"pe": "signnet", "virtual_node": True})


def test_pe_specs_train_end_to_end(cli, tmp_path):
    import yaml

    from gbench.results import ResultStore, read_record
    from gbench.specs import load_task

    spec = load_task("structure-topology-cpu").model_dump(mode="json", exclude_none=True)
    spec["id"] = "structure-topology-tiny"
    spec["dataset"]["params"]["splits"] = {k: {"graphs": g, "nodes": v["nodes"]} for (k, v), g in
                                           zip(spec["dataset"]["params"]["splits"].items(), [24, 12, 12, 12, 12])}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    models = "gcn-spe,gin-signnet,gat-spe,gps-signnet"
    result = cli("run", "--tasks", path, "--models", models, "--seeds", "1", "--set", "train.epochs=2",
                 "--out", tmp_path / "o", "--threads", "1")
    assert result.code == 0, result
    recs = [read_record(p) for p in ResultStore(tmp_path / "o").record_paths()]
    assert sorted(r.model for r in recs) == sorted(models.split(","))
    for r in recs:
        assert r.status == "ok" and set(r.metrics) == {"val", "test_id", "test_near_ood", "test_far_ood"}


def test_spe_encoding_grows_with_the_graph_and_signnet_does_not():
    # benchmarks/README.md section 14 and structure-vs-paper.md (claim 3) rest on this: SPE sums over a graph's n
    # anchor nodes (the paper's Eq. 2), so a graph four times larger gets an encoding about four times larger;
    # SignNet's per-node encoding keeps its size. The encoders alone, before the model's projection.
    from torch_geometric.data import Batch

    from gbench.models.pe import SETTINGS, SignNetEncoder, SPEEncoder

    small, large = _with_eig([_random_graph(20, 4)])[0], _with_eig([_random_graph(80, 5)])[0]
    sizes = {}
    for pe, cls in (("signnet", SignNetEncoder), ("spe", SPEEncoder)):
        torch.manual_seed(0)
        kwargs = {k: d for k, (d, _) in SETTINGS[pe].items()}
        encoder = (cls(K, **kwargs) if pe == "signnet" else cls(**kwargs)).eval()
        with torch.no_grad():
            sizes[pe] = [encoder(Batch.from_data_list(g)).abs().mean().item() for g in (small, large)]
    assert 3.0 < sizes["spe"][1] / sizes["spe"][0] < 5.0, sizes
    assert 0.67 < sizes["signnet"][1] / sizes["signnet"][0] < 1.5, sizes


def _spe_whatif(pe_args: dict, extras: dict, *datasets: list) -> list[torch.Tensor]:
    """SPE's encoding (inside a 2-layer GCN, seed 0, eval mode) of each list of graphs, with `pe_args`: the same
    weights for every list, so two settings or two inputs compare one to one. A bad setting raises
    ModelContractError."""
    from torch_geometric.data import Batch

    from gbench.models.contract import TaskInfo, build_model

    info = TaskInfo(level="graph", target="regression", num_features=101, out_dim=1, extras=extras)
    torch.manual_seed(0)
    model = build_model("gbench.models.graph:gcn", info, {"hidden": 32, "layers": 2, "pe": "spe",
                                                          "pe_args": pe_args}).eval()
    with torch.no_grad():
        return [model.encoder.spectral.encoder(Batch.from_data_list(d)) for d in datasets]


def test_spe_mean_pool_is_the_sum_divided_by_each_graphs_size():
    # pe_args.pool: mean, the what-if of benchmarks/README.md section 14 (not SPE as published).
    from gbench.errors import ModelContractError

    graphs, extras = _with_eig([_random_graph(12, 6), _cycle(7)])
    [summed], [mean] = (_spe_whatif({"pool": pool}, extras, graphs) for pool in ("sum", "mean"))
    sizes = torch.tensor([12.0] * 12 + [7.0] * 7)[:, None]
    assert torch.allclose(mean, summed / sizes, atol=1e-6)
    with pytest.raises(ModelContractError, match="pe_args.pool must be sum or mean, got 'max'"):
        _spe_whatif({"pool": "max"}, extras, graphs)


def test_spe_with_eigenvalues_zero_does_not_see_the_eigenvalues():
    # pe_args.eigenvalues: zero, the ablation of benchmarks/README.md section 14 (not SPE as published): the
    # encoding is the same whatever the eigenvalues are, where SPE as published changes with them.
    from gbench.errors import ModelContractError

    graphs, extras = _with_eig([_random_graph(12, 6), _cycle(7)])
    moved = [g.clone() for g in graphs]
    for g in moved:
        g.eig_vals = g.eig_vals * 0.5
    for setting, same in (("zero", True), ("read", False)):
        a, b = _spe_whatif({"eigenvalues": setting}, extras, graphs, moved)
        assert torch.allclose(a, b, atol=1e-6) is same, setting
    with pytest.raises(ModelContractError, match="pe_args.eigenvalues must be read or zero, got 'none'"):
        _spe_whatif({"eigenvalues": "none"}, extras, graphs)


def test_spe_scale_n_is_spe_on_eigenvectors_of_norm_sqrt_n():
    # pe_args.scale: n, the second what-if of benchmarks/README.md section 14 (not SPE as published): the same
    # weights on each graph's eigenvectors multiplied by sqrt(n) give the same encoding.
    from gbench.errors import ModelContractError

    graphs, extras = _with_eig([_random_graph(12, 6), _cycle(7)])
    stretched = [g.clone() for g in graphs]
    for g in stretched:
        g.eig_vecs = g.eig_vecs * g.num_nodes ** 0.5
    [scaled] = _spe_whatif({"scale": "n"}, extras, graphs)
    plain_stretched, plain = _spe_whatif({}, extras, stretched, graphs)
    assert torch.allclose(scaled, plain_stretched, atol=1e-5)
    assert not torch.allclose(scaled, plain, atol=1e-3)
    with pytest.raises(ModelContractError, match="pe_args.scale must be none or n, got 'N'"):
        _spe_whatif({"scale": "N"}, extras, graphs)
