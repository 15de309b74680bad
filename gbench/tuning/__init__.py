"""Hyperparameter search with equal budgets and leak-free selection: `gbench tune`.

`prepare_tune(...)` plans and checks a tune (one Optuna study per (task, model), and per outer fold on a k-fold
task) and its `run()` runs it: trials are ordinary gbench jobs scored on validation only, then the selected
configuration of each study runs with the protocol's seeds and is the only thing that sees a test split. See
`gbench.tuning.engine` for how a tune advances, resumes and stays the same across executors, and docs/tuning.md
for the user's side.
"""

from gbench.tuning.engine import Study, Trial, TuneResult, TuneSettings
from gbench.tuning.prepare import PreparedTune, TuneOutcome, prepare_tune

__all__ = ["PreparedTune", "Study", "Trial", "TuneOutcome", "TuneResult", "TuneSettings", "prepare_tune"]
