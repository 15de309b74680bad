"""Cross-validation folds for graph-level tasks, generated deterministically from a seed in the task spec.

The protocol is Errica et al.'s (ICLR 2020, "A Fair Comparison of Graph Neural Networks for Graph
Classification", `datasets/manager.py` of diningphil/gnn-comparison): an outer stratified k-fold split gives each
fold's test set; inside each fold's training part a stratified hold-out (`val_fraction`, 10% in their code) is the
validation set for model selection. Errica et al. drew their folds unseeded and shipped them as JSON; gbench draws
them from `seed` with scikit-learn (`StratifiedKFold(shuffle=True, random_state=seed)` and
`train_test_split(stratify=..., random_state=seed + fold)`), so the same spec always gives the same folds.

`FOLDS_VERSION` names this procedure. A task spec may pin its folds with `split.params.sha256` (the
`fold_fingerprint` of the assignment); the loader refuses to run when the generated folds differ (say a
scikit-learn release changed its shuffling), instead of silently producing numbers on other folds. The pin is
optional: a task without one runs on the folds its seed gives, and the loader reports their fingerprint
(`info['fold_sha256']`, kept in every record).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from gbench.errors import FoldPinMismatch, SpecError

FOLDS_VERSION = "stratified-kfold-holdout-v1"
FOLD_PARAMS = {"folds", "seed", "val_fraction", "stratify", "sha256"}


def kfold_splits(y: np.ndarray, folds: int = 10, seed: int = 0, val_fraction: float = 0.1,
                 stratify: bool = True) -> list[dict[str, torch.Tensor]]:
    """`folds` dicts {'train', 'val', 'test'} of sorted int64 graph indices.

    The test parts are disjoint and cover every graph; in each fold train, val and test are disjoint and cover
    every graph. `y` is [G] class ids (stratification is by class; `stratify=False` for regression targets).
    """
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    y = np.asarray(y).reshape(-1)
    index = np.arange(y.shape[0])
    outer = (StratifiedKFold if stratify else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    out = []
    for k, (train_part, test_part) in enumerate(outer.split(index, y if stratify else None)):
        train, val = train_test_split(train_part, test_size=val_fraction, random_state=seed + k,
                                      stratify=y[train_part] if stratify else None)
        out.append({name: torch.from_numpy(np.sort(part).astype(np.int64))
                    for name, part in (("train", train), ("val", val), ("test", test_part))})
    return out


def fold_fingerprint(splits: list[dict[str, torch.Tensor]]) -> str:
    """sha256 over every fold's index lists (in order): what `split.params.sha256` pins."""
    h = hashlib.sha256()
    for split in splits:
        for name in sorted(split):
            h.update(name.encode())
            h.update(split[name].numpy().astype("<i8").tobytes())
    return h.hexdigest()


def splits_from_spec(task, y: np.ndarray, stratify: bool = True) -> list[dict[str, torch.Tensor]]:
    """The folds a task's `split` asks for (kind 'kfold'), checked against its pinned fingerprint."""
    params: dict[str, Any] = dict(task.split.params)
    unknown = set(params) - FOLD_PARAMS
    if unknown:
        raise SpecError(f"task '{task.id}': split.params has unknown field(s) {sorted(unknown)} for kind 'kfold'; "
                        f"allowed: {', '.join(sorted(FOLD_PARAMS))}.")
    folds, val_fraction = int(params.get("folds", 10)), float(params.get("val_fraction", 0.1))
    if folds < 2:
        raise SpecError(f"task '{task.id}': split.params.folds must be at least 2, got {folds}.")
    if not 0 < val_fraction < 1:
        raise SpecError(f"task '{task.id}': split.params.val_fraction must be in (0, 1), got {val_fraction}.")
    splits = kfold_splits(y, folds=folds, seed=int(params.get("seed", 0)), val_fraction=val_fraction,
                          stratify=bool(params.get("stratify", stratify)))
    pinned = params.get("sha256")
    if pinned is not None and fold_fingerprint(splits) != pinned:
        raise FoldPinMismatch(
            f"task '{task.id}': the generated folds, fingerprint {fold_fingerprint(splits)}, differ from "
            f"split.params.sha256 {pinned}; a task of your own may drop the pin (it then runs on these folds, and "
            "every record keeps their fingerprint in extra.data.fold_sha256) or pin the value above, while for a "
            "catalog task it means the data or scikit-learn's shuffling changed: bump its version and pin the new "
            "fingerprint.")
    return splits
