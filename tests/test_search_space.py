"""Search spaces in model specs (`search:`): refused at load when malformed, one sentence per problem naming the file
and the field; grids enumerated and mapped to overrides; every shipped space loads with a source and a width; and
the space never enters a job's identity."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gbench import specs
from gbench.errors import SpecError


def write_model(tmp_path, search, name="bad.yaml", **extra):
    data = {"name": "tiny", "level": "node", "implementation": "gbench.models.node:gcn", "search": search, **extra}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("search, field, words", [
    ({"space": {"hidden": []}}, "search.space.hidden", "is an empty grid"),
    ({"space": {"dropout": {"uniform": [0.5, 0.5]}}}, "search.space.dropout", "needs lo < hi"),
    ({"space": {"dropout": {"uniform": [0.8, 0.2]}}}, "search.space.dropout", "got [0.8, 0.2]"),
    ({"space": {"optim.lr": {"loguniform": [0.0, 0.1]}}}, "search.space.optim.lr", "needs lo > 0"),
    ({"space": {"optim.weight_decy": [0.0, 0.01]}}, "search.space.optim.weight_decy",
     "did you mean 'optim.weight_decay'?"),
    ({"space": {"optim.lr": [0.01, -1]}}, "search.space.optim.lr", "-1, which is not a valid optim.lr"),
    ({"space": {"optim.lr": [0.01, "fast"]}}, "search.space.optim.lr", "fast, which is not a valid optim.lr"),
    ({"space": {"optim.name": ["adam", "rmsprop"]}}, "search.space.optim.name", "rmsprop, which is not a valid"),
    ({"space": {"train.lr_schedule": [None]}}, "search.space.train.lr_schedule", "is not searchable"),
    ({"space": {"train.batch_size": {"uniform": [8, 64]}}}, "search.space.train.batch_size",
     "give {int: [lo, hi]} or a grid"),
    ({"space": {"train.epochs": {"int": [0, 10]}}}, "search.space.train.epochs", "not a valid train.epochs"),
    ({"space": {"layers": {"int": [0, 4], "log": True}}}, "search.space.layers", "needs lo >= 1"),
    ({"space": {"readout": ["sum", "sum"]}}, "search.space.readout", "lists sum twice"),
    ({"space": {"hidden": 64}}, "search.space.hidden", "must be a grid"),
    ({"space": {"dropout": {"normal": [0, 1]}}}, "search.space.dropout", "exactly one distribution"),
    ({"space": {"model.hidden": [1, 2]}}, "search.space.model.hidden", "not one of optim, train"),
    ({"space": {}}, "search.space", "is empty"),
    ({"space": {"hidden": [16, 32]}, "width": "optim.lr"}, "search.width", "bare hyperparameter name"),
    ({"space": {"hidden": [16, 32]}, "widht": "hidden"}, "search.widht", "did you mean 'width'?"),
])
def test_a_malformed_space_is_refused_at_load_naming_file_and_field(tmp_path, search, field, words):
    path = write_model(tmp_path, search)
    with pytest.raises(SpecError) as err:
        specs.load_model_file(path)
    text = str(err.value)
    assert text.startswith(f"{path}: field '{field}' ") and words in text, text
    assert text.count("\n") == 0 and text.endswith("."), "one problem, one sentence"


def test_every_problem_of_a_space_is_reported_at_once(tmp_path):
    path = write_model(tmp_path, {"space": {"hidden": [], "optim.lr": [-1], "optim.nam": ["adam"]},
                                  "width": "a.b"})
    with pytest.raises(SpecError) as err:
        specs.load_model_file(path)
    text = str(err.value)
    assert "4 problems" in text
    for field in ("search.space.hidden", "search.space.optim.lr", "search.space.optim.nam", "search.width"):
        assert f"field '{field}'" in text


def test_a_task_override_space_is_checked_and_replaces_the_models(tmp_path):
    bad = write_model(tmp_path, {"space": {"hidden": [16, 32]}},
                      overrides={"cora": {"search": {"space": {"optim.lr": [0]}}}})
    with pytest.raises(SpecError, match=r"field 'overrides\.cora\.search\.space\.optim\.lr' has grid value 0"):
        specs.load_model_file(bad)
    good = write_model(tmp_path, {"space": {"hidden": [16, 32]}, "source": "mine"}, name="good.yaml",
                       overrides={"cora": {"search": {"space": {"optim.lr": [0.1, 0.01, 0.001]}}}})
    model = specs.load_model_file(good)
    assert specs.search_space(model, specs.load_task("cora")).grid_size() == 3
    assert specs.search_space(model, specs.load_task("citeseer")).source == "mine"
    plain = specs.load_model_file(write_model(tmp_path, None, name="plain.yaml"))
    assert specs.search_space(plain, specs.load_task("cora")) is None


def test_cli_refuses_a_model_with_a_bad_space_in_one_sentence(cli, tmp_path):
    path = write_model(tmp_path, {"space": {"optim.lr": [0.01, -1]}})
    result = cli("run", "--tasks", "cora", "--models", str(path))
    assert result.code == 2, result
    assert "field 'search.space.optim.lr' has grid value -1" in result.err
    assert "Traceback" not in result.err + result.out


def test_grid_points_overrides_and_describe():
    space = specs.SearchSpec.model_validate({"space": {"hidden": [32, 64], "optim.lr": [0.01, 0.001],
                                                       "train.batch_size": [16, 32, 0]}, "width": "hidden"})
    assert space.is_grid() and space.grid_size() == 12
    assert space.grid_values() == {"hidden": [32, 64], "optim.lr": [0.01, 0.001], "train.batch_size": [16, 32, 0]}
    points = space.grid_points()
    assert points[0] == {"hidden": 32, "optim.lr": 0.01, "train.batch_size": 16}
    assert points[1] == {"hidden": 32, "optim.lr": 0.01, "train.batch_size": 32}  # the last key varies fastest
    assert points[-1] == {"hidden": 64, "optim.lr": 0.001, "train.batch_size": 0}
    assert space.overrides({"hidden": 64, "optim.lr": 0.01, "train.batch_size": 0}) == \
        {"hparams": {"hidden": 64}, "optim": {"lr": 0.01}, "train": {"batch_size": 0}}
    assert space.describe() == ("hidden∈{32,64} × optim.lr∈{0.01,0.001} × train.batch_size∈{16,32,0} "
                                "(12 points)")


def test_a_chosen_point_resolves_into_the_same_job_as_set():
    task, gcn = specs.load_task("cora"), specs.load_model("gcn", "node")
    space = specs.SearchSpec.model_validate({"space": {"hidden": [32], "optim.lr": [0.05]}})
    chosen = specs.resolve_model(gcn, task, space.overrides(space.grid_points()[0]))
    via_set = specs.resolve_model(gcn, task, specs.parse_assignments(["hidden=32", "optim.lr=0.05"]))
    assert specs.job_identity(task, chosen, 0) == specs.job_identity(task, via_set, 0)


def test_distributions_have_no_grid_and_keep_their_bounds():
    space = specs.SearchSpec.model_validate({"space": {
        "hidden": [16, 64], "optim.lr": {"loguniform": [0.0001, 0.1]}, "dropout": {"uniform": [0, 0.8]},
        "layers": {"int": [1, 8], "log": True}}})
    assert not space.is_grid() and space.grid_size() is None
    lr, dropout, layers = space.space["optim.lr"], space.space["dropout"], space.space["layers"]
    assert (lr.kind, lr.low, lr.high, lr.log) == ("loguniform", 0.0001, 0.1, True)
    assert (dropout.kind, dropout.low, dropout.high, dropout.log) == ("uniform", 0.0, 0.8, False)
    assert (layers.kind, layers.low, layers.high, layers.log) == ("int", 1, 8, True)
    assert space.space["hidden"].kind == "grid" and space.space["hidden"].values == [16, 64]
    assert "optim.lr~loguniform[0.0001,0.1]" in space.describe() and "points" not in space.describe()
    with pytest.raises(SpecError, match="no finite list of grid points"):
        space.grid_points()
    assert specs.SearchSpec.model_validate(space.model_dump()) == space


def test_grid_values_take_the_fields_type():
    space = specs.SearchSpec.model_validate({"space": {"optim.lr": [1, 0.1], "optim.name": ["adam", "sgd"],
                                                       "train_eps": [True, False]}})
    assert space.space["optim.lr"].values == [1.0, 0.1] and isinstance(space.space["optim.lr"].values[0], float)
    assert space.space["train_eps"].values == [True, False]


def test_every_shipped_space_loads_with_a_source_and_a_width():
    shipped = 0
    for level, name, path in specs.model_entries():
        model = specs.load_model_file(path)
        spaces = [model.search] + [o.search for o in model.overrides.values()]
        for space in filter(None, spaces):
            shipped += 1
            assert space.source and space.width, f"{path}: a shipped space needs a source and a width"
            assert space.width in _factory_keywords(model.implementation), f"{path}: width {space.width}"
            if space.is_grid():
                assert space.grid_size() == len(space.grid_points())
    assert shipped >= 6
    gin = specs.load_model("gin", "graph")
    for task in ("proteins", "imdb-binary", "nci1"):
        space = specs.search_space(gin, specs.load_task(task))
        assert space is not None and "Errica" in space.source and space.is_grid()
    assert specs.search_space(specs.load_model("mlp", "node"), specs.load_task("cora")).grid_size() <= 16


def _factory_keywords(implementation: str) -> set[str]:
    import importlib
    import inspect

    module, _, attr = implementation.partition(":")
    params = inspect.signature(getattr(importlib.import_module(module), attr)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"hidden"}  # a factory passing **hparams on (link gcn_link/sage_link -> gnn_link(hidden=...))
    return set(params)


def test_the_space_is_not_part_of_the_job_identity(tmp_path):
    task = specs.load_task("cora")
    base = specs.load_model_file(write_model(tmp_path, None, name="plain.yaml"))
    searched = specs.load_model_file(write_model(tmp_path, {"space": {"hidden": [8, 16]}, "width": "hidden"},
                                                 name="searched.yaml"))
    assert specs.job_identity(task, specs.resolve_model(base, task), 0) == \
        specs.job_identity(task, specs.resolve_model(searched, task), 0)


_scalar = st.one_of(st.integers(-5, 5), st.sampled_from(["sum", "mean", "max"]), st.booleans(),
                    st.sampled_from([0.1, 0.5, 2.5]))
_key = st.from_regex(re.compile(r"[a-z][a-z_]{0,6}"), fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_key, st.lists(_scalar, min_size=1, max_size=4), min_size=1, max_size=4))
def test_grid_points_are_grid_size_distinct_points(raw):
    # A grid refuses a value listed twice; hypothesis' lists may repeat one, so keep each value once.
    space = {k: list({(type(v), v): v for v in values}.values()) for k, values in raw.items()}
    spec = specs.SearchSpec.model_validate({"space": space})
    points = spec.grid_points()
    assert len(points) == spec.grid_size()
    assert len({tuple((k, type(v), v) for k, v in p.items()) for p in points}) == len(points)
    assert all(set(p) == set(space) for p in points)
