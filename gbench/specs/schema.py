"""Task, model and suite specs as pydantic models: what a YAML file may say, checked when it loads.

A spec is data, not code: what a reader of a paper needs to reproduce a number. Anything that can change a number
is a field here and ends up in the job identity and in the run record. Values the code can derive are filled in at
load (a metric's direction, the OGB dataset of its evaluator, a structural task's name), so a spec need not repeat
them and the validated spec carries them all the same. Every problem of a spec is reported at once: the checks of
one block do not wait for another block to be valid.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gbench.errors import GbenchError
from gbench.metrics import is_ogb_dataset, metric_direction
from gbench.specs.params import (NEUTRAL_HPARAMS, OFFICIAL_SPLIT_NAME, PROTOCOL_PARAMS, SOURCE_PARAMS, SPLIT_PARAMS,
                                 identity_excluded, plugin_params)
from gbench.specs.problems import as_problems, check_params, problem, reraise, transform_problems, unknown_name
from gbench.specs.schedule import LRScheduleSpec
from gbench.specs.search import SearchSpec, register_groups

Level = Literal["node", "link", "graph"]
Target = Literal["multiclass", "binary", "multilabel", "regression"]
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------------------------
# Task spec


class DatasetSpec(_Strict):
    """Where the graph comes from: a data source, a dataset name and the source's parameters."""

    source: str = Field(description="data source (gbench.data.SOURCES); its parameters are listed below")
    name: str | None = Field(default=None, description="dataset name within the source (e.g. Cora, ogbn-arxiv)")
    params: dict[str, Any] = Field(default_factory=dict, description="the source's parameters (see the tables)")

    @model_validator(mode="wrap")
    @classmethod
    def _checked(cls, data: Any, handler: Any) -> DatasetSpec:
        problems: list[dict[str, Any]] = []
        if isinstance(data, dict) and data.get("source") == "structure" and isinstance(data.get("params"), dict):
            # A structural task's property is its dataset name; `params.task` may only repeat it.
            data = {**data, "params": dict(data["params"])}
            given, name = data["params"].get("task"), data.get("name")
            if given is None and isinstance(name, str):
                data["params"]["task"] = name
            elif given is not None and name is not None and given != name:
                problems.append(problem(("params", "task"), f"repeats dataset.name and must equal it ('{name}'); "
                                        "leave it out", given))
        spec = None
        try:
            spec = handler(data)
        except ValidationError as err:
            problems.extend(as_problems(err))
        if isinstance(data, dict) and isinstance(data.get("source"), str):
            source = data["source"]
            model = plugin_params(SOURCE_PARAMS, "gbench.sources", source)
            if model is None:
                problems.append(problem(("source",), unknown_name("data source", source, list(SOURCE_PARAMS)),
                                        source))
            elif isinstance(data.get("params", {}), dict):
                problems.extend(check_params(model, data.get("params"), ("params",), f"source '{source}'"))
        reraise(cls.__name__, problems)
        return spec


class SplitSpec(_Strict):
    """How nodes, edges or graphs are split. `kind` says whose split it is; `params` holds its parameters."""

    kind: Literal["official", "random", "kfold", "scale", "generated"] = Field(
        description="official: the dataset's own split; random: seeded random splits; kfold: k-fold cross-"
                    "validation; scale: generated splits of growing graph size; generated: the generator's split")
    params: dict[str, Any] = Field(default_factory=dict, description="the kind's parameters (see the tables)")
    test_splits: list[str] = Field(default_factory=lambda: ["test"], description="evaluation splits reported on "
                                   "the leaderboard; the first is the headline number")

    @field_validator("kind", mode="before")
    @classmethod
    def _one_official_kind(cls, v: Any) -> Any:
        if v == "public":
            raise ValueError("must be 'official' for a dataset's own split (Planetoid's public split included)")
        return v


class MetricSpec(_Strict):
    """One metric, computed by a named evaluator (`ogb.Evaluator` or scikit-learn), never by hand."""

    name: str = Field(description="metric name: accuracy, roc_auc, mae, mse, f1_macro (sklearn); acc, rocauc, "
                      "ap, rmse, F1, mrr, hits@K (ogb)")
    evaluator: Literal["sklearn", "ogb"] = Field(default="sklearn", description="who computes it")
    dataset: str | None = Field(default=None, description="OGB dataset whose evaluator to use (evaluator: ogb); "
                                "filled from dataset.name when that is an OGB dataset; omit for metrics OGB "
                                "computes alike for every dataset (acc, rocauc, rmse, ...)")
    higher_is_better: bool | None = Field(default=None, description="derived from the evaluator; refused when "
                                          "it contradicts it")
    k: int | None = Field(default=None, description="K for hits@K")

    @model_validator(mode="wrap")
    @classmethod
    def _direction(cls, data: Any, handler: Any) -> MetricSpec:
        spec = handler(data)
        try:
            expected = metric_direction(spec.name, spec.evaluator, spec.dataset)
        except (ValueError, GbenchError) as e:
            reraise(cls.__name__, [problem(("dataset",) if "'dataset'" in str(e) else ("name",), str(e), spec.name)])
            raise AssertionError from None  # unreachable: reraise raised
        if spec.higher_is_better is None:
            return spec.model_copy(update={"higher_is_better": expected})
        if spec.higher_is_better != expected:
            reraise(cls.__name__, [problem(("higher_is_better",), f"contradicts the evaluator: metric '{spec.name}' "
                                           f"is {'higher' if expected else 'lower'}-is-better; leave it out or set "
                                           f"higher_is_better: {str(expected).lower()}", spec.higher_is_better)])
        return spec


class OptimSpec(_Strict):
    name: Literal["adam", "adamw", "sgd"] = Field(default="adam", description="torch.optim optimizer")
    lr: float = Field(gt=0, description="learning rate")
    weight_decay: float = Field(default=0.0, ge=0, description="L2 penalty (decoupled for adamw)")


class ProtocolSpec(_Strict):
    """How a model is trained and selected. Model specs may override epochs, patience and batch size."""

    seeds: int = Field(default=10, ge=1, description="seeds 0..seeds-1 unless --seeds says otherwise")
    epochs: int = Field(ge=1, description="most epochs a model trains")
    patience: int | None = Field(default=None, ge=1, description="evaluations without improvement before stopping")
    monitor: Literal["val_metric", "val_loss", "val_loss_and_metric"] = Field(
        default="val_metric",
        description="what selects the epoch; val_loss_and_metric is the rule of Veličković et al.'s GAT code: "
                    "patience resets when either improves, an epoch is selected when both are at their best")
    eval_every: int = Field(default=1, ge=1, description="epochs between evaluations")
    batch_size: int | None = Field(default=None, ge=1, description="None: full batch")
    optim: OptimSpec = Field(description="default optimizer for a candidate model that names none")
    std: Literal["seeds", "folds"] = Field(default="seeds", description="what the leaderboard std is taken over")
    std_ddof: int = Field(default=1, ge=0, le=1, description="1: sample std (OGB); 0: population std (Errica et al.)")
    params: dict[str, Any] = Field(default_factory=dict, description="the level's protocol settings (see the tables)")


class ReferenceSpec(_Strict):
    """A published number for (this task, a model), in the unit the metric is stored in."""

    value: float = Field(description="published mean")
    std: float | None = Field(default=None, description="published std")
    n: int | None = Field(default=None, description="number of runs behind the published mean")
    source: str = Field(description="where the number is published")
    note: str | None = Field(default=None, description="how the published setting differs, if it does")



def _known_extras(v: list[str]) -> list[str]:
    from gbench.specs.extras import EXTRAS

    unknown = [e for e in v if e not in EXTRAS]
    if unknown:
        raise ValueError(f"unknown extra(s) {unknown}; gbench's extras are {', '.join(EXTRAS)}")
    return v


class TaskSpec(_Strict):
    """A benchmark task: one YAML file under tasks/ (or a user's own file)."""

    id: str = Field(description="lowercase letters, digits, '-', '_' or '.'")
    version: int = Field(default=1, ge=1, description="bump whenever a change could alter numbers; required in "
                         "the catalog, 1 when a user's own task leaves it out")
    level: Level = Field(description="node, link or graph prediction")
    family: str | None = Field(default=None, description="e.g. 'structure' for structural-abstraction tasks")
    description: str = Field(description="what the task is and whose protocol it follows, for a reader")
    dataset: DatasetSpec = Field(description="where the data comes from")
    split: SplitSpec = Field(description="how it is split")
    target: Target = Field(description="what kind of label the model predicts")
    metric: MetricSpec = Field(description="the headline metric; selection uses it on the validation split")
    extra_metrics: list[MetricSpec] = Field(default_factory=list, description="reported beside the headline one")
    protocol: ProtocolSpec = Field(description="how models are trained and selected")
    reference: dict[str, ReferenceSpec] = Field(default_factory=dict, description="model name -> published number")
    deviations: list[str] = Field(default_factory=list, description="where this task differs from the source")
    requires: list[str] = Field(default_factory=list, description="pip extras this task needs")

    @field_validator("requires")
    @classmethod
    def _requires_known(cls, v: list[str]) -> list[str]:
        return _known_extras(v)

    @field_validator("id")
    @classmethod
    def _id_format(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("must be lowercase letters, digits, '-', '_' or '.', starting with a letter or digit")
        return v

    @model_validator(mode="wrap")
    @classmethod
    def _checked(cls, data: Any, handler: Any, info: Any) -> TaskSpec:
        problems: list[dict[str, Any]] = []
        if isinstance(data, dict):
            data = _derive_task_fields(data)
            if (info.context or {}).get("catalog") and "version" not in data:
                problems.append(problem(("version",), "is required in a catalog task; give the version (bump it "
                                        "whenever a change could alter numbers)"))
        spec = None
        try:
            spec = handler(data)
        except ValidationError as err:
            problems.extend(as_problems(err))
        if isinstance(data, dict):
            problems.extend(_level_problems(data))
        reraise(cls.__name__, problems)
        return spec

    def identity(self) -> dict[str, Any]:
        """What decides the numbers: everything but prose, references and settings that change no number. The
        official split is named as its source names it (Planetoid's 'public'), the name records were written with."""
        ident = self.model_dump(mode="json", exclude={"reference", "description", "deviations"})
        if self.split.kind == "official":
            ident["split"]["kind"] = OFFICIAL_SPLIT_NAME.get(self.dataset.source, "official")
        for path in identity_excluded(PROTOCOL_PARAMS[self.level]):
            _drop(ident["protocol"]["params"], path)
        return ident


def _drop(tree: dict[str, Any], path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        tree = tree.get(key)
        if not isinstance(tree, dict):
            return
    tree.pop(path[-1], None)


def _derive_task_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Fill `metric.dataset` with `dataset.name` when the metric is OGB's and the dataset is an OGB dataset."""
    dataset = data.get("dataset")
    name = dataset.get("name") if isinstance(dataset, dict) else None
    if not isinstance(name, str) or not _is_ogb(name):
        return data
    data = copy.copy(data)
    for key in ("metric", "extra_metrics"):
        entries = data.get(key)
        many = isinstance(entries, list)
        filled = []
        for m in entries if many else [entries]:
            if isinstance(m, dict) and m.get("evaluator") == "ogb" and "dataset" not in m:
                m = {**m, "dataset": name}
            filled.append(m)
        if key in data:
            data[key] = filled if many else filled[0]
    return data


def _is_ogb(name: str) -> bool:
    try:
        return is_ogb_dataset(name)
    except GbenchError:
        return False  # without ogb installed the metric check says so


def _level_problems(data: dict[str, Any]) -> list[dict[str, Any]]:
    """`split.params` and `protocol.params` against the models of their kind and the task's level."""
    level = data.get("level")
    if not isinstance(level, str) or level not in PROTOCOL_PARAMS:
        return []
    out: list[dict[str, Any]] = []
    split = data.get("split")
    kind = split.get("kind") if isinstance(split, dict) else None
    if isinstance(kind, str) and kind in SPLIT_PARAMS and isinstance(split.get("params", {}), dict):
        out += check_params(SPLIT_PARAMS[kind][level], split.get("params"), ("split", "params"),
                            f"split kind '{kind}' at level {level}")
    protocol = data.get("protocol")
    if isinstance(protocol, dict) and isinstance(protocol.get("params", {}), dict):
        out += check_params(PROTOCOL_PARAMS[level], protocol.get("params"), ("protocol", "params"),
                            f"the {level}-level protocol")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Model spec


class TrainSpec(_Strict):
    """A model's own training schedule, where its paper fixes one (e.g. GAT's 1000 epochs with patience 100)."""

    epochs: int | None = Field(default=None, ge=1, description="replaces protocol.epochs")
    patience: int | None = Field(default=None, ge=1, description="replaces protocol.patience")
    batch_size: int | None = Field(default=None, ge=0, description="0: full batch, overriding the task")
    grad_clip: float | None = Field(default=None, gt=0, description="max gradient norm")
    lr_schedule: LRScheduleSpec | None = Field(default=None, description="none: a constant learning rate")
    trace_every: int | None = Field(
        default=None, ge=1, description="graph tasks: every N epochs also score the test and scale splits and keep "
        "each split's metric, and the epoch's training and validation loss, in the record's extra.curve (a "
        "diagnostic of how they move with training; selection still reads the validation split only, and tuning "
        "trials score nothing but it)")
    keep_predictions: bool | None = Field(
        default=None, description="graph tasks: keep every reported split's per-graph labels and model outputs at "
        "the selected epoch in the record's extra.predictions (for per-graph statistics, e.g. benchmarks/"
        "split_errors.py and paired_graphs.py; validation is predicted once more from the selected parameters)")


register_groups(optim=OptimSpec, train=TrainSpec)  # what `search.space` keys optim.X and train.X name


class ModelOverride(_Strict):
    """Settings of a model for one task, applied over the model's own."""

    hparams: dict[str, Any] = Field(default_factory=dict, description="replaces the model's hparams of the same name")
    optim: dict[str, Any] = Field(default_factory=dict, description="fields of OptimSpec")
    train: dict[str, Any] = Field(default_factory=dict, description="fields of TrainSpec")
    transforms: list[str] | None = Field(default=None, description="replaces the model's transforms")
    source: str | None = Field(default=None, description="where these values come from")
    search: SearchSpec | None = Field(default=None, description="replaces the model's search space on this task")

    @model_validator(mode="after")
    def _transforms_known(self) -> ModelOverride:
        reraise(type(self).__name__, transform_problems(self.transforms, ("transforms",)))
        return self


class ModelSpec(_Strict):
    """A model: one YAML file under baselines/ (or a user's candidate)."""

    name: str = Field(description="letters, digits, '-', '_', '.', ':' or '+'; unique per level")
    level: Level | Literal["any"] = Field(default="any", description="the task level it is for")
    implementation: str = Field(description="'package.module:factory' or 'path/to/file.py:factory'")
    description: str = Field(default="", description="what the model is, with its paper")
    hparams: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the factory")
    optim: OptimSpec | None = Field(default=None, description="none: the task protocol's optimizer")
    train: TrainSpec = Field(default_factory=TrainSpec, description="the model's own training schedule")
    transforms: list[str] = Field(default_factory=list, description="input transforms the model needs, e.g. "
                                  "lap_pe:16 (see the transform tables)")
    sources: dict[str, str] = Field(default_factory=dict, description="hyperparameter or group -> where it comes "
                                    "from (a short citation; stories about runs belong in leaderboards/*-notes.md)")
    search: SearchSpec | None = Field(default=None, description="what `gbench tune` may vary, with its source; "
                                      "not part of the job identity")
    overrides: dict[str, ModelOverride] = Field(default_factory=dict, description="task id -> overrides")
    requires: list[str] = Field(default_factory=list, description="pip extras this model needs")
    candidate: bool = Field(default=False, description="a user's model rather than a shipped baseline")

    @field_validator("requires")
    @classmethod
    def _requires_known(cls, v: list[str]) -> list[str]:
        return _known_extras(v)

    @field_validator("name")
    @classmethod
    def _name_format(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]*$", v):
            raise ValueError("must be letters, digits, '-', '_', '.', ':' or '+'")
        return v

    @field_validator("implementation")
    @classmethod
    def _impl_format(cls, v: str) -> str:
        if ":" not in v:
            raise ValueError("must be 'package.module:factory' or 'path/to/file.py:factory'")
        return v

    @model_validator(mode="wrap")
    @classmethod
    def _checked(cls, data: Any, handler: Any) -> ModelSpec:
        problems: list[dict[str, Any]] = []
        spec = None
        try:
            spec = handler(data)
        except ValidationError as err:
            problems.extend(as_problems(err))
        if isinstance(data, dict):
            problems += transform_problems(data.get("transforms"), ("transforms",))
        reraise(cls.__name__, problems)
        return spec


# ---------------------------------------------------------------------------------------------------------------
# Suite spec


class SuiteGroup(_Strict):
    """Tasks run with the same models and seeds."""

    tasks: list[str] = Field(description="task ids or task YAML paths")
    models: list[str] = Field(description="model names or model YAML paths")
    seeds: int | None = Field(default=None, ge=1, description="None: each task's protocol.seeds")


class SuiteSpec(_Strict):
    """A named sweep: either one group (`tasks`, `models`, `seeds`) or several `groups` (one per family)."""

    id: str = Field(description="the name `gbench run --suite` takes")
    description: str = Field(default="", description="what the suite is for")
    tasks: list[str] = Field(default_factory=list, description="one group's tasks")
    models: list[str] = Field(default_factory=list, description="one group's models")
    seeds: int | None = Field(default=None, ge=1, description="one group's seeds")
    groups: list[SuiteGroup] = Field(default_factory=list, description="several groups instead")
    workers: Literal["auto"] | None = Field(
        default=None, description="'auto': on CPU with the local executor and no --workers, one worker process per "
        "core (at most one per job and one per 2 GiB of memory), each with one torch thread unless --threads is given; "
        "for suites of many small jobs")

    @model_validator(mode="after")
    def _one_form(self) -> SuiteSpec:
        if self.groups and (self.tasks or self.models):
            raise ValueError("give either tasks/models/seeds or groups, not both")
        if not self.groups and not (self.tasks and self.models):
            raise ValueError("needs tasks and models (or groups)")
        return self

    def all_groups(self) -> list[SuiteGroup]:
        return self.groups or [SuiteGroup(tasks=self.tasks, models=self.models, seeds=self.seeds)]


class ResolvedModel(_Strict):
    """A model spec with the per-task and command-line overrides applied: what a job actually runs."""

    name: str
    implementation: str
    hparams: dict[str, Any]
    optim: OptimSpec
    train: TrainSpec
    transforms: list[str] = Field(default_factory=list)
    candidate: bool
    code_hash: str | None = Field(default=None, description="sha256 of a candidate's source file")
    sources: dict[str, str] = Field(default_factory=dict)
    requires: list[str] = Field(default_factory=list, description="pip extras the model needs (not its identity)")

    def identity(self) -> dict[str, Any]:
        """What decides the numbers. Fields that hold their default are left out where records were first written
        without them (transforms, lr_schedule, trace_every, keep_predictions), so those records keep their ids."""
        exclude: dict[str, Any] = {"sources": True, "requires": True}
        if not self.transforms:
            exclude["transforms"] = True
        unset = {key: True for key in ("lr_schedule", "trace_every") if getattr(self.train, key) is None}
        if not self.train.keep_predictions:  # false is the default too: it keeps nothing
            unset["keep_predictions"] = True
        if unset:
            exclude["train"] = unset
        ident = self.model_dump(mode="json", exclude=exclude)
        for key in NEUTRAL_HPARAMS:
            ident["hparams"].pop(key, None)
        return ident
