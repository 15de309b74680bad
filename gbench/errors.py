"""Errors a user can cause. The CLI prints their message as one sentence and exits with status 2."""


class GbenchError(Exception):
    """A problem with the user's input (a spec, an argument, a model, a data root) and how to fix it."""


class SpecError(GbenchError):
    """A task, model or suite spec is malformed or names something unknown."""


class DatasetUnavailable(GbenchError):
    """A dataset's raw files are neither in the data root nor downloadable here."""


class ModelContractError(GbenchError):
    """A candidate model does not follow the model contract."""


class FoldPinMismatch(SpecError):
    """A k-fold task's generated folds differ from the fingerprint its spec pins (`split.params.sha256`)."""
