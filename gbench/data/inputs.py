"""What a model receives: a `torch_geometric.data.Data` of inputs only, whose labels and split masks raise.

The data side builds it (gbench.data.graphs.strip_labels, the runners); the model contract (gbench.models.contract)
names it. Reading `data.y` or a mask raises AttributeError with one sentence instead of returning None.
"""

from __future__ import annotations

_HIDDEN = frozenset({"y", "train_mask", "val_mask", "test_mask"})


def _model_inputs_class():
    from torch_geometric.data import Data

    def hidden(self):
        raise AttributeError("y")  # Python then asks __getattr__, which explains

    class ModelInputs(Data):
        """A `Data` whose labels and split masks raise instead of reading as None."""

        y = property(hidden)  # Data.y is a property that returns None when absent

        def __getattr__(self, key: str):
            if key in _HIDDEN:
                raise AttributeError(f"data.{key} is not a model input: a model sees features and structure only, "
                                     "never labels or split masks")
            return super().__getattr__(key)

    return ModelInputs


_MODEL_INPUTS = None


def ModelInputs(**kwargs):  # noqa: N802 - behaves as a class to its callers
    """The inputs a model receives: a `torch_geometric.data.Data` without labels or masks."""
    global _MODEL_INPUTS
    if _MODEL_INPUTS is None:
        _MODEL_INPUTS = _model_inputs_class()
    return _MODEL_INPUTS(**kwargs)
