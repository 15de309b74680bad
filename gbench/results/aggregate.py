"""Aggregation: leaderboard rows from records, and nothing else.

One row per (task, task version, model, model spec). A model whose spec or task version differs between records of
one directory is shown as `<model>@<first 8 hex of its model hash>`, here and in every reader of results.

A tune (`gbench tune`) leaves two kinds of records. Its trials (`selection` records: validation only) are never
leaderboard rows. Its final runs carry `tuning`; they are one row per tune of a (task, model), whatever
configuration each outer fold selected, shown as `<model>` or, beside a fixed-configuration row of the same model
(which keeps the plain name), `<model>@tuned`; such rows add the columns `tuned` (sampler and budget),
`search_size` and `selected`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from gbench.results.records import RunRecord

LEADERBOARD_COLUMNS = ["task", "model", "metric", "mean", "std", "n_seeds"]


@lru_cache(maxsize=None)
def task_deviations(task_id: str, version: int | None) -> tuple[str, ...]:
    """The `deviations:` a catalog task spec writes (where it differs from its source: a split drawn otherwise, a
    schedule gbench lacks), for records of that task at that version; none for a task the catalog lacks (a user's
    own YAML) or whose catalog version differs from the records'."""
    from gbench.errors import SpecError
    from gbench.specs.catalog import load_task_file, task_path

    path = task_path(task_id)
    try:
        spec = load_task_file(path, catalog=True) if path else None
    except SpecError:
        return ()
    return tuple(spec.deviations) if spec is not None and spec.version == version else ()


def _std(values: list[float], ddof: int) -> float:
    n = len(values)
    if n - ddof <= 0:
        return float("nan")
    m = sum(values) / n
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - ddof))


def _mean(values: Iterable[float | None]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def per_unit_values(records: list[RunRecord], split: str) -> list[float]:
    """The values the leaderboard's mean and std are taken over: one per seed, or one per fold (averaged over
    the seeds that ran that fold) when the task protocol says std over folds."""
    ok = [r for r in records if r.status == "ok" and r.headline(split) is not None]
    if not ok:
        return []
    if ok[0].std_over == "folds":
        by_fold: dict[int, list[float]] = {}
        for r in ok:
            if r.fold is not None:  # a job of one outer fold (a tuned final run)
                by_fold.setdefault(r.fold, []).append(float(r.headline(split)))
                continue
            for fold, value in enumerate(r.extra.get("fold_metrics", {}).get(split, [])):
                by_fold.setdefault(fold, []).append(value)
        return [sum(v) / len(v) for _, v in sorted(by_fold.items())]
    return [float(r.headline(split)) for r in sorted(ok, key=lambda r: r.seed)]


def current_model_hash(r: RunRecord) -> str:
    """The record's model hash as today's code computes it from its spec: the stored one, except in records written
    at gbench.specs.resolution.DRIFTED_IDENTITY_COMMIT, whose hash counted an unset field (the same spec and the same
    numbers as today's, so they belong in one row with today's seeds)."""
    from pydantic import ValidationError

    from gbench.hashing import stable_hash
    from gbench.specs.resolution import DRIFTED_IDENTITY_COMMIT, legacy_model_identity
    from gbench.specs.schema import ResolvedModel

    if not str(r.environment.get("git_commit") or "").startswith(DRIFTED_IDENTITY_COMMIT):
        return r.model_hash
    try:
        model = ResolvedModel.model_validate(r.model_spec)
    except ValidationError:
        return r.model_hash
    legacy = legacy_model_identity(model)
    if legacy is None or stable_hash(legacy)[:16] != r.model_hash:  # not the drift this commit is known for
        return r.model_hash
    return stable_hash(model.identity())[:16]


def group_records(records: list[RunRecord]) -> list[tuple[str, list[RunRecord]]]:
    """(name shown for the model, its records) per leaderboard row, in the leaderboard's order (task, model)."""
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        if r.selection:  # a tuning trial: validation only, never a leaderboard row
            continue
        key = "tuned:" + str(r.tuning.get("tune")) if r.tuning else current_model_hash(r)
        groups.setdefault((r.task, r.task_version, r.model, key), []).append(r)
    clash: dict[tuple[str, str], set] = {}
    for task, version, model, key in groups:
        clash.setdefault((task, model), set()).add((version, key))
    out = []
    for (task, _, model, key), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][3])):
        fixed = sum(1 for _, k in clash[(task, model)] if not k.startswith("tuned:"))
        if len(clash[(task, model)]) == 1 or (fixed == 1 and not key.startswith("tuned:")):
            out.append((model, recs))  # one fixed configuration beside tuned ones keeps the plain name
        elif key.startswith("tuned:"):
            tunes = sum(1 for _, k in clash[(task, model)] if k.startswith("tuned:"))
            out.append((f"{model}@tuned" if tunes == 1 else f"{model}@tuned-{key[6:14]}", recs))
        else:
            out.append((f"{model}@{key[:8]}", recs))
    return out


def tuning_label(tuning: dict[str, Any] | None) -> str:
    """'no', or how the row was tuned: 'tpe, budget 16' (+ ', <= 500,000 params' under a parameter budget)."""
    if not tuning:
        return "no"
    label = f"{tuning.get('sampler')}, budget {tuning.get('budget')}"
    if tuning.get("param_budget"):
        label += f", <= {int(tuning['param_budget']):,} params"
    return label


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def selected_label(recs: list[RunRecord]) -> str:
    """The configuration a tune selected, compactly; per outer fold, the distinct selections with their counts."""
    per_unit: dict[Any, str] = {}
    for r in recs:
        chosen = (r.tuning or {}).get("selected") or {}
        per_unit[r.fold] = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(chosen.items()))
    if len(per_unit) == 1:
        return next(iter(per_unit.values()))
    counts: dict[str, int] = {}
    for text in per_unit.values():
        counts[text] = counts.get(text, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "; ".join(f"{text} ({n}/{len(per_unit)} folds)" for text, n in ranked)


@lru_cache(maxsize=64)
def _catalog_task(task: str, version: int) -> Any:
    """The shipped task spec `task` at `version`, or None: what records written before they carried their task's
    protocol (and records whose spec gained a reference later) are read against."""
    from gbench.specs.catalog import load_task, task_path

    try:
        spec = load_task(task) if task_path(task) is not None else None
    except Exception:  # noqa: BLE001 - a catalog that no longer loads this task just gives no fallback
        return None
    return spec if spec is not None and spec.version == version else None


def task_protocol(record: RunRecord) -> dict[str, Any] | None:
    """seeds, epochs, patience and batch_size of the record's task protocol: as the job saw it, or, for a record
    written before records carried it, from the shipped task spec of the same id and version (None otherwise)."""
    if record.extra.get("task_protocol"):
        return record.extra["task_protocol"]
    spec = _catalog_task(record.task, record.task_version)
    return None if spec is None else {k: getattr(spec.protocol, k) for k in ("seeds", "epochs", "patience",
                                                                              "batch_size")}


def _reference(recs: list[RunRecord]) -> dict[str, Any]:
    """The published number beside a row: the newest record's that names one, else the shipped task spec's (a
    reference added to a spec after its records were written; references are not part of a job's identity)."""
    for r in sorted(recs, key=lambda r: r.started_at or "", reverse=True):
        if r.reference:
            return r.reference
    spec = _catalog_task(recs[0].task, recs[0].task_version)
    ref = spec.reference.get(recs[0].model) if spec is not None else None
    return ref.model_dump(mode="json") if ref is not None else {}


def _show(key: str, value: Any) -> str:
    if key == "batch_size" and not value:
        return "full batch"
    return "none" if value is None else str(value)


_UNSET = object()


def _setting(value: Any) -> str:
    if isinstance(value, dict):  # as --set writes one: {name: plateau, gamma: 0.5}
        return "{" + ", ".join(f"{k}: {_setting(v)}" for k, v in value.items()) + "}"
    return "unset" if value is _UNSET or value is None else str(value)


def _changes(mine: dict[str, Any], shipped: dict[str, Any], prefix: str = "") -> list[str]:
    """'key=value (shipped spec: value)' for every setting where two settings dicts differ: a dict both sides hold
    (pe_args) by its keys, a setting one side lacks or leaves None as 'unset'."""
    out = []
    for key in sorted(set(mine) | set(shipped)):
        a, b = mine.get(key, _UNSET), shipped.get(key, _UNSET)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}={_setting(a)} (shipped spec: {_setting(b)})")
    return out


@lru_cache(maxsize=256)
def _shipped_settings(name: str, level: str, implementation: str, task: str, version: int) -> dict[str, Any] | None:
    """hparams, optim and the training settings a task's protocol does not name (grad_clip, lr_schedule) of the
    shipped model `name` resolved for the catalog task `task` at `version`, without --set; None where the catalog
    lacks either or its model now has another implementation (then it is not the same model)."""
    from gbench.specs.catalog import has_model, load_model
    from gbench.specs.params import NEUTRAL_HPARAMS
    from gbench.specs.resolution import resolve_model

    spec = _catalog_task(task, version)
    if spec is None or not has_model(name, level):
        return None
    try:
        model = load_model(name, level)
        resolved = resolve_model(model, spec)
    except Exception:  # noqa: BLE001 - a shipped spec that no longer resolves gives nothing to compare with
        return None
    if resolved.implementation != implementation:
        return None
    dumped = resolved.model_dump(mode="json")
    return {"hparams": {k: v for k, v in dumped["hparams"].items() if k not in NEUTRAL_HPARAMS},
            "optim": dumped["optim"], "train": {k: dumped["train"][k] for k in ("grad_clip", "lr_schedule")}}


def spec_deviation(record: RunRecord) -> list[str]:
    """Where a row's hyperparameters differ from its shipped model spec's on that task (set with --set, or the
    spec changed since): e.g. ['pe_args.pool=mean (shipped spec: unset)']. Nothing for a user's candidate, a
    tuned row (its `selected` column says what it chose) or a model or task the catalog lacks at that version."""
    spec = record.model_spec or {}
    if record.candidate or record.tuning or not spec.get("implementation"):
        return []
    shipped = _shipped_settings(record.model, record.level, spec["implementation"], record.task, record.task_version)
    if shipped is None:
        return []
    from gbench.specs.params import NEUTRAL_HPARAMS
    from gbench.specs.schema import OptimSpec, TrainSpec

    hparams = {k: v for k, v in (spec.get("hparams") or {}).items() if k not in NEUTRAL_HPARAMS}
    try:  # through today's schema, so a field added since the record was written reads as its default
        optim = OptimSpec.model_validate(spec.get("optim") or {}).model_dump(mode="json")
        train = TrainSpec.model_validate(spec.get("train") or {}).model_dump(mode="json")
    except Exception:  # noqa: BLE001 - a record today's schema no longer reads: compare what it holds
        optim, train = spec.get("optim") or {}, spec.get("train") or {}
    return (_changes(hparams, shipped["hparams"])
            + _changes(optim, shipped["optim"], "optim.")
            + _changes({k: train.get(k) for k in ("grad_clip", "lr_schedule")}, shipped["train"], "train."))


def protocol_deviation(record: RunRecord, n_seeds: int) -> str | None:
    """Where a row's training differs from its task's protocol or its model's shipped spec, e.g. 'epochs 50 (task
    200); pe_args.pool=mean (shipped spec: unset); 1 of 5 seeds': the model spec's `train` settings (its own or
    from --set) that replace the protocol's, hyperparameters that differ from the shipped spec's
    (`spec_deviation`), and fewer seeds than the protocol names. None where nothing differs; the protocol's parts
    are left out where it is unknown."""
    protocol = task_protocol(record)
    train = (record.model_spec or {}).get("train") or {}
    parts = []
    for key in ("epochs", "patience", "batch_size"):
        mine, theirs = train.get(key), (protocol or {}).get(key)
        if protocol is not None and mine is not None and _show(key, mine) != _show(key, theirs):
            parts.append(f"{key.replace('_', ' ')} {_show(key, mine)} (task {_show(key, theirs)})")
    parts += spec_deviation(record)
    if protocol and protocol.get("seeds") and 0 < n_seeds < protocol["seeds"]:
        parts.append(f"{n_seeds} of {protocol['seeds']} seeds")
    return "; ".join(parts) or None


def headline_splits(frame) -> dict[str, str]:
    """task -> the name of its headline test split, from a leaderboard frame's `test_split` column ({} without)."""
    if "test_split" not in frame.columns:
        return {}
    return {str(t): str(s) for t, s in zip(frame["task"], frame["test_split"]) if isinstance(s, str)}


def aggregate(records: list[RunRecord]):
    """Leaderboard rows, one per (task, task version, model, model spec): a pandas DataFrame.

    Columns: task, model, metric, mean, std, n_seeds (then test_split: the name of the headline test split,
    val_mean, one `<split>_mean`/`<split>_std` pair per extra test split, failures, costs, the reference number
    and its source, versions). `std` is the sample std (ddof=1) over seeds unless the task protocol says otherwise
    (`std_over`, `std_ddof` columns).
    """
    import pandas as pd

    rows = []
    for name, recs in group_records(records):
        first = recs[0]
        ok = [r for r in recs if r.status == "ok"]
        head = first.test_splits[0]
        values = per_unit_values(recs, head)
        reference = _reference(recs)
        row: dict[str, Any] = {
            "task": first.task, "model": name, "metric": first.metric,
            "mean": _mean(values), "std": _std(values, first.std_ddof), "n_seeds": len({r.seed for r in ok}),
            "higher_is_better": first.higher_is_better, "test_split": head,
            "val_mean": _mean(r.metrics.get("val", {}).get(first.metric) for r in ok),
        }
        for split in first.test_splits[1:]:
            vals = per_unit_values(recs, split)
            row[f"{split}_mean"] = _mean(vals)
            row[f"{split}_std"] = _std(vals, first.std_ddof)
        row.update({
            "n_failed": sum(r.status in ("failed", "oom") for r in recs),
            "n_diverged": sum(r.status == "diverged" for r in recs),
            "std_over": first.std_over, "std_ddof": first.std_ddof,
            "s_per_epoch": _mean(r.cost.s_per_epoch for r in ok),
            "train_s": _mean(r.cost.train_s for r in ok),
            "setup_s": _mean(r.cost.setup_s for r in ok),
            "eval_s": _mean(r.cost.eval_s for r in ok),
            "peak_memory_mb": _mean(r.cost.peak_memory_mb for r in ok),
            "peak_memory_kind": ",".join(sorted({r.cost.peak_memory_kind for r in ok if r.cost.peak_memory_kind})),
            "num_params": first.num_params,
            "reference": reference.get("value"),
            "reference_std": reference.get("std"),
            "reference_source": reference.get("source"),
            "task_version": first.task_version, "model_hash": current_model_hash(first),
            "device": ",".join(sorted({r.device for r in ok})) or first.device,
        })
        # Only rows whose records name a data deviation get the column, so other leaderboards keep their columns.
        deviations = sorted({str(r.extra["data_deviation"]) for r in recs if r.extra.get("data_deviation")})
        if deviations:
            row["data_deviation"] = "; ".join(deviations)
        # the task spec's own `deviations:`, as the records name them (records before 2026-12-03 name none: the
        # catalog spec of their version stands in), one per line
        written = first.extra.get("task_deviations")
        if written is None:
            written = task_deviations(first.task, first.task_version)
        if written:
            row["task_deviation"] = "\n".join(written)
        # Likewise only rows trained otherwise than their task's protocol get `protocol_deviation`.
        differs = protocol_deviation(first, row["n_seeds"])
        if differs:
            row["protocol_deviation"] = differs
        if first.tuning:
            size = first.tuning.get("search_size")
            row.update({"tuned": tuning_label(first.tuning), "search_size": size if size else "continuous",
                        "selected": selected_label(recs), "model_hash": str(first.tuning.get("tune"))})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if "tuned" in frame.columns:  # beside tuned rows, a fixed-configuration row says it was not tuned
        frame["tuned"] = frame["tuned"].fillna("no")
    if frame.empty:
        frame = pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    return frame
