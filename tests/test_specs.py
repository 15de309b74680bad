"""Specs: the catalog loads, malformed specs are refused with the file and field, identities are stable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gbench import specs
from gbench.errors import SpecError

CORA = yaml.safe_load((Path(specs.catalog_root()) / "tasks" / "node" / "cora.yaml").read_text())


def write_task(tmp_path: Path, **changes) -> Path:
    data = {**CORA, **changes}
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_catalog_loads_every_spec():
    assert "cora" in specs.task_ids() and "sbm-node" in specs.task_ids()
    for tid in specs.task_ids():
        assert specs.load_task(tid).id == tid
    for level, name, path in specs.model_entries():
        assert specs.load_model(name, level).name == name
    assert "default" in specs.suite_ids()
    suite = specs.load_suite("default")
    for tid in suite.tasks:
        specs.load_task(tid)


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"level": "nodes"}, "level", "'node', 'link' or 'graph'"),
        ({"metric": {"name": "accuracy", "evaluator": "sklearn"}}, "metric.higher_is_better", "required"),
        ({"metrc": {}}, "metrc", "not a known field"),
        ({"metric": {"name": "acuracy", "higher_is_better": True}}, "(top level)", "allowed: accuracy"),
        ({"metric": {"name": "mae", "higher_is_better": True}}, "(top level)", "higher_is_better: false"),
        ({"version": 0}, "version", "greater than or equal to 1"),
        ({"id": "Has Space"}, "id", "lowercase"),
    ],
)
def test_malformed_task_names_file_and_field(tmp_path, changes, field, words):
    path = write_task(tmp_path, **changes)
    with pytest.raises(SpecError) as err:
        specs.load_task(str(path))
    message = str(err.value)
    assert str(path) in message and f"field '{field}'" in message and words in message


def test_missing_field_and_bad_yaml(tmp_path):
    data = dict(CORA)
    del data["protocol"]
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"field 'protocol' is required but missing"):
        specs.load_task(str(path))
    path.write_text("id: [unclosed\n")
    with pytest.raises(SpecError, match=r"is not valid YAML at line"):
        specs.load_task(str(path))


def test_unknown_names_suggest_the_close_one():
    with pytest.raises(SpecError, match=r"unknown task 'coraa' \(did you mean 'cora'\?\)"):
        specs.load_task("coraa")
    with pytest.raises(SpecError, match=r"did you mean 'gcn'"):
        specs.load_model("gnc", "node")
    with pytest.raises(SpecError, match=r"unknown suite"):
        specs.load_suite("nightly")


def test_cli_refuses_bad_spec_in_one_sentence(cli, tmp_path):
    path = write_task(tmp_path, split={"kind": "sometimes"})
    result = cli("run", "--tasks", path, "--models", "gcn")
    assert result.code == 2
    assert "field 'split.kind'" in result.err and "Traceback" not in result.err + result.out
    result = cli("run", "--tasks", "cora", "--models", "gcnn")
    assert result.code == 2 and "did you mean 'gcn'" in result.err


def test_set_assignments_and_resolution():
    over = specs.parse_assignments(["hidden=32", "optim.lr=0.1", "train.epochs=3"])
    assert over == {"hparams": {"hidden": 32}, "optim": {"lr": 0.1}, "train": {"epochs": 3}}
    with pytest.raises(SpecError, match="KEY=VALUE"):
        specs.parse_assignments(["hidden"])
    task = specs.load_task("ogbn-arxiv")
    gcn = specs.resolve_model(specs.load_model("gcn", "node"), task, over)
    assert gcn.hparams["hidden"] == 32 and gcn.hparams["norm"] == "batch"  # CLI beats the per-task override
    assert gcn.optim.lr == 0.1 and gcn.train.epochs == 3
    with pytest.raises(SpecError, match="optim.lr"):
        specs.resolve_model(specs.load_model("gcn", "node"), task, specs.parse_assignments(["optim.lr=-1"]))


def test_job_identity_depends_on_everything_that_changes_numbers():
    task = specs.load_task("cora")
    model = specs.resolve_model(specs.load_model("gcn", "node"), task)
    base = specs.job_identity(task, model, 0)
    assert base == specs.job_identity(specs.load_task("cora"), model, 0)
    assert base != specs.job_identity(task, model, 1)
    assert base != specs.job_identity(task.model_copy(update={"version": 2}), model, 0)
    other = specs.resolve_model(specs.load_model("gcn", "node"), task, specs.parse_assignments(["hidden=17"]))
    assert base != specs.job_identity(task, other, 0)
    # Reference numbers and prose do not change results, so they do not change the identity.
    assert base == specs.job_identity(task.model_copy(update={"description": "x", "reference": {}}), model, 0)
    # A learning-rate schedule changes numbers; its absence keeps the ids records were written under.
    assert "lr_schedule" not in model.identity()["train"]
    step = specs.parse_assignments(["train.lr_schedule={name: step, step_size: 50, gamma: 0.5}"])
    scheduled = specs.resolve_model(specs.load_model("gcn", "node"), task, step)
    assert scheduled.train.lr_schedule.step_size == 50 and base != specs.job_identity(task, scheduled, 0)
    with pytest.raises(SpecError, match="train.lr_schedule"):
        specs.resolve_model(specs.load_model("gcn", "node"), task,
                            specs.parse_assignments(["train.lr_schedule={name: cosine, step_size: 5, gamma: 0.5}"]))


def test_candidate_identity_follows_its_source_file(tmp_path):
    src = tmp_path / "cand.py"
    src.write_text("def build(info):\n    return None\n")
    task = specs.load_task("cora")
    first = specs.resolve_model(specs.candidate_spec(f"{src}:build"), task)
    src.write_text("def build(info):\n    return 1\n")
    second = specs.resolve_model(specs.candidate_spec(f"{src}:build"), task)
    assert first.name == "cand.build" and first.code_hash != second.code_hash
    assert specs.job_identity(task, first, 0) != specs.job_identity(task, second, 0)
