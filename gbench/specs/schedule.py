"""A model's learning-rate schedule (`train.lr_schedule` in a model spec), and the cosine-with-warm-up factor that
gbench.train.loop applies for it."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator


class LRScheduleSpec(BaseModel):
    """'step': the rate times `gamma` every `step_size` epochs (StepLR). 'plateau': times `gamma` after `patience`
    evaluations without a lower validation loss, not below `min_lr` (ReduceLROnPlateau; node and graph levels).
    'cosine': GraphGPS's cosine_with_warmup, linear up over `warmup` epochs, then half a cosine to 0 at the last."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["step", "plateau", "cosine"] = Field(description="the schedule")
    step_size: int | None = Field(default=None, ge=1, description="step: epochs between decays")
    gamma: float | None = Field(default=None, gt=0, le=1, description="step, plateau: factor applied at each decay")
    patience: int | None = Field(default=None, ge=0, description="plateau: evaluations to wait before a decay")
    min_lr: float | None = Field(default=None, ge=0, description="plateau: no decay below this (default 0)")
    warmup: int | None = Field(default=None, ge=0, description="cosine: epochs of linear warm-up")

    @model_serializer(mode="wrap")
    def _without_unset(self, handler):  # a step schedule dumps as before plateau's fields: same records, same ids
        return {k: v for k, v in handler(self).items() if v is not None}

    @model_validator(mode="after")
    def _fields_of_its_schedule(self) -> LRScheduleSpec:
        given = {k for k in ("step_size", "gamma", "patience", "min_lr", "warmup") if getattr(self, k) is not None}
        need, may = {"step": ({"step_size", "gamma"}, set()), "plateau": ({"gamma", "patience"}, {"min_lr"}),
                     "cosine": ({"warmup"}, set())}[self.name]
        if not need <= given <= need | may:
            raise ValueError("schedule 'step' takes step_size and gamma; 'plateau' takes gamma, patience, min_lr; "
                             "'cosine' takes warmup")
        return self


def cosine_with_warmup(epoch: int, warmup: int, total: int) -> float:
    """The factor of the base rate during `epoch` (0-based) under 'cosine': GraphGPS's `cosine_with_warmup`
    (graphgps/optimizer/extra_optimizers.py, after Hugging Face's), stepped once per epoch: epoch / warmup during
    the warm-up (at least 1e-6, so the first epoch is not at rate 0), then 0.5 (1 + cos(pi p)) with p the share of
    the `total - warmup` remaining epochs gone, reaching 0 at epoch `total`."""
    if epoch < warmup:
        return max(1e-6, epoch / max(1, warmup))
    progress = (epoch - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
