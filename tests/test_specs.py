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


def test_structure_paper_suite_is_table_2_at_the_papers_protocol():
    """`--suite structure-paper` is the whole paper-sized table: every GNN x feature/PE structural spec and the four
    ImageNet backbones on the four paper-sized tasks, 5 seeds, the task protocol untouched; --models picks a piece
    with the same job ids, so pieces run on a CPU and the GPU command resume one another."""
    from gbench.sweep import assemble

    jobs = assemble(suite="structure-paper").jobs
    tasks = {"structure-topology", "structure-symmetry", "structure-spectral-gap", "structure-bridges"}
    gnns = {f"{g}-{f}" for g in ("gcn", "gin", "gat", "gps") for f in ("degree", "lappe", "signnet", "spe")}
    vision = {"resnet50-kk-imagenet", "vit-b16-kk-imagenet", "swin-t-kk-imagenet", "convnextv2-t-kk-imagenet"}
    rows = {(j.task.id, j.model.name) for j in jobs}
    assert rows >= {(t, m) for t in tasks for m in gnns | vision}
    assert {m for _, m in rows} == gnns | vision | {"gin-mean-degree"}
    assert {j.seed for j in jobs} == set(range(5)) and len(jobs) == 5 * len(rows)
    assert all(j.task.protocol.epochs == 200 and j.task.protocol.batch_size == 128 for j in jobs)
    piece = assemble(tasks="structure-topology", models="gcn-spe", seeds=[0]).jobs
    assert piece[0].job_id in {j.job_id for j in jobs}


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"level": "nodes"}, "level", "did you mean 'node'"),
        ({"metrc": {}}, "metrc", "not a known field; allowed: id, version"),
        ({"metric": {"name": "acuracy"}}, "metric.name", "did you mean 'accuracy'"),
        ({"metric": {"name": "mae", "higher_is_better": True}}, "metric.higher_is_better", "higher_is_better: false"),
        ({"version": 0}, "version", "greater than or equal to 1"),
        ({"id": "Has Space"}, "id", "lowercase"),
        ({"split": {"kind": "public"}}, "split.kind", "must be 'official' for a dataset's own split"),
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


def test_every_problem_of_a_task_is_reported_at_once(tmp_path):
    path = write_task(tmp_path, level="nodes", metric={"name": "acuracy"},
                      dataset={"source": "planetoid", "name": "Cora", "params": {"normalise_features": True}},
                      protocol={**CORA["protocol"], "params": {"sampler": {"num_neighbours": [10]}}})
    with pytest.raises(SpecError) as err:
        specs.load_task(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: 3 problems:")
    assert "field 'level'" in message and "field 'metric.name'" in message
    assert "field 'dataset.params.normalise_features' is not a parameter of source 'planetoid'" in message
    assert "did you mean 'normalize_features'" in message
    # protocol.params is checked against the level's table only once the level itself is valid
    fixed = write_task(tmp_path, protocol={**CORA["protocol"], "params": {"sampler": {"num_neighbours": [10]}}})
    with pytest.raises(SpecError, match=r"field 'protocol.params.sampler.num_neighbours' is not a parameter.*did you mean 'num_neighbors'"):
        specs.load_task(str(fixed))


@pytest.mark.parametrize("task, where, value, field, words", [
    ("cora-link", ("protocol", "params", "negatives"), {"method": "dens"}, "protocol.params.negatives.method",
     "did you mean 'dense'"),
    ("cora-link", ("protocol", "params", "eval_batch_size"), "big", "protocol.params.eval_batch_size",
     "valid integer (got 'big')"),
    ("cora-link", ("split", "params", "tset"), 0.1, "split.params.tset", "did you mean 'test'"),
    ("nci1", ("split", "params", "fold"), 3, "split.params.fold", "allowed: folds, seed"),
    ("nci1", ("dataset", "params", "node_features"), "label", "dataset.params.node_features", "did you mean 'labels'"),
    ("sbm-node", ("dataset", "params", "homophily"), "0.7", "dataset.params.homophily", "valid number"),
    ("structure-bridges-cpu", ("dataset", "params", "task"), "topology", "dataset.params.task", "leave it out"),
    ("colour-motifs", ("dataset", "source"), "graph-motif", "dataset.source", "did you mean 'graph-motifs'"),
])
def test_typed_params_refuse_a_misspelt_or_ill_typed_key_at_load(tmp_path, task, where, value, field, words):
    data = yaml.safe_load(specs.task_path(task).read_text())
    node = data
    for key in where[:-1]:
        node = node.setdefault(key, {})
    node[where[-1]] = value
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as err:
        specs.load_task(str(path))
    message = str(err.value)
    assert str(path) in message and f"field '{field}'" in message and words in message


def test_model_transforms_are_typed(tmp_path):
    data = yaml.safe_load((specs.catalog_root() / "baselines" / "node" / "gcn.yaml").read_text())
    data["transforms"] = ["lap_pe:x", "lappe:8", "render:kk:8"]
    data["overrides"]["cora"] = {"hparms": {}}
    path = tmp_path / "gcn.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as err:
        specs.load_model(str(path), "node")
    message = str(err.value)
    assert "4 problems" in message and "field 'transforms.0.k'" in message
    assert "field 'transforms.1' is not a known transform (did you mean 'lap_pe'?)" in message
    assert "field 'transforms.2.size' Input should be greater than or equal to 16" in message
    assert "field 'overrides.cora.hparms' is not a known field" in message and "did you mean 'hparams'" in message


def test_derived_fields_are_filled_at_load_and_absent_from_the_catalog(tmp_path):
    arxiv, bridges, cora = specs.load_task("ogbn-arxiv"), specs.load_task("structure-bridges"), specs.load_task("cora")
    assert arxiv.metric.dataset == "ogbn-arxiv" and arxiv.metric.higher_is_better is True
    assert cora.metric.dataset is None  # Cora is no OGB dataset: OGB's generic accuracy
    assert bridges.dataset.params["task"] == "bridges" and bridges.metric.higher_is_better is False
    catalog = "".join(p.read_text() for p in (specs.catalog_root() / "tasks").rglob("*.yaml"))
    assert "higher_is_better" not in catalog and "kind: public" not in catalog
    assert "dataset: ogb" not in catalog and "\n    task:" not in catalog


def test_a_users_task_may_leave_out_version_a_catalog_task_may_not(tmp_path, monkeypatch):
    data = {k: v for k, v in CORA.items() if k != "version"}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    assert specs.load_task(str(path)).version == 1
    (tmp_path / "tasks" / "node").mkdir(parents=True)
    (tmp_path / "baselines").mkdir()
    (tmp_path / "tasks" / "node" / "cora.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("GBENCH_CATALOG", str(tmp_path))
    with pytest.raises(SpecError, match=r"cora.yaml: field 'version' is required in a catalog task"):
        specs.load_task("cora")


def test_settings_that_change_no_number_leave_the_job_id_alone():
    def job_id(task, model, level, **edits):
        t = specs.load_task(task)
        m = specs.resolve_model(specs.load_model(model, level), t)
        for dotted, value in edits.items():
            t = _replace(t, dotted.split("__"), value)
        return specs.job_identity(t, m, 0)

    assert job_id("cora-link", "gcn", "link") == job_id("cora-link", "gcn", "link",
                                                       protocol__params__eval_batch_size=17)
    products = {"num_neighbors": [15, 10, 5]}
    assert job_id("ogbn-products", "sage", "node", protocol__params__sampler={**products, "num_workers": 4}) == \
        job_id("ogbn-products", "sage", "node", protocol__params__sampler={**products, "eval_device": "cuda"})
    assert job_id("ogbn-products", "sage", "node") != job_id(
        "ogbn-products", "sage", "node", protocol__params__sampler={"num_neighbors": [15, 10, 4]})
    task = specs.load_task("cora")
    gcn = specs.load_model("gcn", "node")
    cached = specs.resolve_model(gcn, task, specs.parse_assignments(["cached=false"]))
    assert specs.job_identity(task, cached, 0) == specs.job_identity(task, specs.resolve_model(gcn, task), 0)


def _replace(model, path, value):
    if len(path) == 1:
        return model.model_copy(update={path[0]: value})
    child = getattr(model, path[0])
    if isinstance(child, dict):
        return model.model_copy(update={path[0]: {**child, path[1]: value}} if len(path) == 2 else {})
    return model.model_copy(update={path[0]: _replace(child, path[1:], value)})


@pytest.mark.parametrize("content, words", [
    (b"\xff\xfe\x00id: x", "is not UTF-8 text"),
    (b"- a\n- b\n", "the document is a list"),
    (b"42\n", "the document is a number"),
    (b"", "the document is empty"),
    (b"id: [unclosed\n", "is not valid YAML at line"),
])
def test_a_file_that_is_no_spec_is_refused_naming_it(tmp_path, content, words):
    path = tmp_path / "t.yaml"
    path.write_bytes(content)
    for load in (specs.load_task, specs.load_suite, lambda p: specs.load_model(p, "node")):
        with pytest.raises(SpecError) as err:
            load(str(path))
        assert str(err.value).startswith(f"{path}: ") and words in str(err.value)


def test_the_spec_reference_is_generated_and_current(cli):
    from gbench.specs.reference import spec_reference

    committed = (specs.catalog_root() / "docs" / "spec-reference.md").read_text()
    assert committed == spec_reference(), "regenerate it: gbench schema > docs/spec-reference.md"
    result = cli("schema", "task")
    assert result.code == 0 and "| `eval_batch_size` |" in result.out and "### TaskSpec" in result.out
    assert "### ModelSpec" not in result.out
    assert "| `k` | int (>= 1) | `16` |" in cli("schema", "model").out
    bad = cli("schema", "tsk")
    assert bad.code == 2 and "give one of task, model, suite" in bad.err


def test_specs_import_nothing_above_them():
    import subprocess
    import sys

    code = ("import sys, gbench.specs, gbench.metrics; "
            "print(sorted(m for m in sys.modules if m.startswith('gbench.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not any(f"'gbench.{above}" in loaded for above in ("data", "train", "jobs", "models", "execute"))
    code = "import sys, gbench.metrics; print('gbench.specs' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_the_extras_a_spec_may_require_are_pyprojects_and_a_missing_one_is_named_before_the_sweep(tmp_path,
                                                                                                     monkeypatch):
    """`requires` names gbench's pip extras: the table the sweep checks is pyproject.toml's, an unknown extra is
    refused with the file, and a missing package stops a sweep that names the model (exit 2) or, where a suite
    brought the model in, becomes a note while the rest runs."""
    import re
    import tomllib

    import gbench.specs.extras as extras
    from gbench.sweep import assemble, check_requires

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    declared = {extra: [re.split(r"[<>=;\[ ]", dep)[0] for dep in deps]
                for extra, deps in project["project"]["optional-dependencies"].items() if extra != "all"}
    assert declared == {extra: [dist for dist, _ in pairs] for extra, pairs in extras.EXTRAS.items()}

    model = yaml.safe_load((Path(specs.catalog_root()) / "baselines" / "structure" /
                            "resnet10-kk-quick.yaml").read_text())
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({**model, "requires": ["strucutre"]}))
    with pytest.raises(SpecError, match=r"typo.yaml.*requires.*unknown extra\(s\) \['strucutre'\]"):
        specs.load_model_file(path)

    monkeypatch.setattr(extras, "_installed", lambda module: module != "igraph")
    named = assemble(tasks="structure-topology-cpu", models="resnet10-kk-quick", seeds=[0])
    with pytest.raises(SpecError, match=r"model 'resnet10-kk-quick' needs igraph .*pip install 'gbench\["
                                        r"structure,layouts\]', or leave the model out"):
        check_requires(named, tasks_named=True, models_named=True)
    suite = assemble(suite="default")
    check_requires(suite, tasks_named=False, models_named=False)
    assert suite.notes == ["4 job(s) will fail: model 'resnet10-kk-quick' needs igraph (its spec requires "
                           "structure, layouts), which is not installed here; pip install "
                           "'gbench[structure,layouts]'."]


def test_a_renamed_copy_of_a_task_is_told_which_per_task_settings_it_leaves_behind(tmp_path):
    """Per-task overrides apply by task id: a copied task YAML with a new id runs with the model's defaults. The
    plan says so where the model has settings for a catalog task on the same dataset, and stays quiet for catalog
    tasks, for a copy that keeps its id, and for models with no settings for that dataset."""
    from gbench.sweep import assemble

    source = yaml.safe_load((Path(specs.catalog_root()) / "tasks" / "link" / "cora-link-70-10-20.yaml").read_text())
    renamed, kept = tmp_path / "my-cora.yaml", tmp_path / "same-id.yaml"
    renamed.write_text(yaml.safe_dump({**source, "id": "my-cora"}))
    kept.write_text(yaml.safe_dump(source))

    plan = assemble(tasks=[str(renamed)], models="ncn,common-neighbours", seeds=[0])
    assert plan.notes == ["model 'ncn' has per-task settings for cora-link-70-10-20, cora-link-70-10-20-per-seed (the "
                          "same dataset) but none for 'my-cora', a task outside the catalog, so it runs with the "
                          "model's defaults; to use them, copy the model's YAML and add 'my-cora' under its "
                          "overrides."]
    assert [j.model.hparams for j in plan.jobs if j.model.name == "ncn"] == [specs.load_model("ncn", "link").hparams]
    same_id = assemble(tasks=[str(kept)], models="ncn", seeds=[0])
    assert same_id.notes == [] and same_id.jobs[0].model.hparams["architecture"] == "authors-code"
    assert assemble(tasks="cora-link,cora-link-70-10-20", models="ncn,ncnc", seeds=[0]).notes == []


# Records written by 739ff6c carry a model hash (and job id) that counted train.trace_every even where it was unset:
# the field was added in 6d2f73e without being left out of the identity when unset, which changed every job's id
# until 2026-12-05. They are kept as they were written (their numbers are unaffected); nothing else may drift.
_DRIFTED_COMMIT = "739ff6c"


def _committed_records() -> list[tuple[Path, dict]]:
    import json

    files = sorted((Path(__file__).resolve().parents[1] / "leaderboards").glob("**/records/**/*.json"))
    return [(path, json.loads(path.read_text())) for path in files]


def test_records_of_the_drifted_commit_are_found_by_a_resumed_sweep_and_grouped_with_todays(tmp_path):
    # The identity 739ff6c computed is known exactly: it gives every one of its committed records' model hash and
    # job id. So a sweep resumed over those records skips them (Job.legacy_job_ids), and a leaderboard puts them
    # in one row with today's records of the same spec (current_model_hash), never in a row of their own.
    import shutil

    from gbench.data.staging import DataContext
    from gbench.execute import run_sweep
    from gbench.hashing import stable_hash
    from gbench.job import Job, RunOptions
    from gbench.results import ResultStore, read_record
    from gbench.results.aggregate import current_model_hash, group_records
    from gbench.specs.resolution import DRIFTED_IDENTITY_COMMIT, legacy_model_identity
    from gbench.specs.schema import ResolvedModel
    from gbench.sweep import single_job

    assert DRIFTED_IDENTITY_COMMIT == _DRIFTED_COMMIT
    drifted = [(path, r) for path, r in _committed_records()
               if str(r["environment"].get("git_commit") or "").startswith(_DRIFTED_COMMIT)]
    assert len(drifted) == 33
    for path, r in drifted:
        model = ResolvedModel.model_validate(r["model_spec"])
        job = Job(specs.load_task(r["task"]), model, r["seed"])
        assert job.task.version == r["task_version"]
        assert stable_hash(legacy_model_identity(model))[:16] == r["model_hash"] != stable_hash(model.identity())[:16]
        assert job.legacy_job_ids == [r["job_id"]] != [job.job_id], path
        assert current_model_hash(read_record(path)) == stable_hash(model.identity())[:16]

    # A sweep resumed over a copy of one: done, nothing submitted.
    class Refuse:
        name, slots = "refuse", 1

        def submit(self, jobs, opts):
            raise AssertionError(f"ran {jobs[0].label}, whose record is there under its 739ff6c id")

        def close(self):
            pass

    path, r = next((p, r) for p, r in drifted if r["task"] == "structure-spectral-gap" and r["model"] == "gcn-spe")
    job = single_job("structure-spectral-gap", "gcn-spe", r["seed"], ["train.epochs=100"])
    assert job.legacy_job_ids == [r["job_id"]]
    store = ResultStore(tmp_path / "out")
    place = store.path_for(r["task"], r["model"], r["seed"], r["job_id"])
    place.parent.mkdir(parents=True)
    shutil.copyfile(path, place)
    opts = RunOptions(device="cpu", deterministic="strict", data=DataContext.from_env(), threads=1)
    summary = run_sweep([job], opts, store, executor=Refuse())
    assert summary.skipped_done == 1 and summary.ran == 0

    # The page that holds a 739ff6c seed beside seeds of later code shows one row per model, every seed in it.
    page = Path(__file__).resolve().parents[1] / "leaderboards" / "runs" / "structure-paper-regression-spe"
    records = [read_record(p) for p in ResultStore(page).record_paths()]
    rows = group_records(records)
    assert {r.environment["git_commit"][:7] for r in records} > {_DRIFTED_COMMIT}
    assert sorted((recs[0].task, name) for name, recs in rows) == sorted({(r.task, r.model) for r in records})
    for _, recs in rows:
        assert sorted(r.seed for r in recs) == list(range(len(recs)))  # each seed once

    # Like with like: GCN+SPE's seed 0, run again by later code on the same BLAS kernel, gives its 739ff6c
    # records' numbers bitwise, under today's job id.
    rerun = [read_record(p) for p in ResultStore(page.parent / f"{page.name}-rerun").record_paths()]
    assert {r.task for r in rerun} == {"structure-spectral-gap", "structure-bridges"}
    for again in rerun:
        [first] = [r for r in records if r.task == again.task and r.model == again.model and r.seed == again.seed
                   and r.environment["git_commit"].startswith(_DRIFTED_COMMIT)]
        assert again.environment["blas"] == first.environment["blas"] and not again.environment["git_commit"].startswith(
            _DRIFTED_COMMIT)
        assert again.job_id == single_job(again.task, "gcn-spe", 0, ["train.epochs=100"]).job_id != first.job_id
        assert (again.metrics, again.selected_epoch, again.epochs_run, again.val_loss) == (
            first.metrics, first.selected_epoch, first.epochs_run, first.val_loss)


def test_every_committed_record_keeps_the_model_hash_todays_code_computes():
    # A new spec field must not change the identity of specs that leave it unset: otherwise every sweep made before
    # it re-runs from scratch when resumed, and a GPU run of a suite no longer skips the jobs a CPU already ran.
    from gbench.hashing import stable_hash
    from gbench.specs.schema import ResolvedModel

    checked = 0
    for path, record in _committed_records():
        if str(record["environment"].get("git_commit") or "").startswith(_DRIFTED_COMMIT):
            continue
        model = ResolvedModel.model_validate(record["model_spec"])
        assert stable_hash(model.identity())[:16] == record["model_hash"], path
        checked += 1
    assert checked > 200  # ci-reference and the pages' records, written over many commits
