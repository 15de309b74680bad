"""Vision baselines for graph-level tasks: a torchvision ResNet on a drawing of each graph (GraphAbstract).

The model reads `batch.image` (uint8 [num_graphs, 3, H, W]), attached by the spec's `render:<layout>:<size>`
transform (gbench.data.render), and never looks at the graph itself. It follows the model contract:
`resnet(info, **hparams)` and `model(batch) -> Tensor[num_graphs, info.out_dim]`.

Weights: trained from scratch by default (`weights: null`); `weights: path/to/state_dict.pt` starts the backbone
from a user's file (e.g. torchvision's ImageNet ResNet weights, saved as a state dict), every tensor but the
classification head `fc.*`, which is replaced to fit `out_dim`. The file's sha256 is kept on the model
(`weights_sha256`), and its path is a hyperparameter, hence part of the job identity and the record.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor, nn

from gbench.errors import ModelContractError
from gbench.models.contract import TaskInfo

# ImageNet channel statistics, so that a user's ImageNet weights see the inputs they were trained on.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DEPTHS = {10: ("basic", [1, 1, 1, 1]), 18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
          50: ("bottleneck", [3, 4, 6, 3])}


def _backbone(depth: int, out_dim: int) -> nn.Module:
    """torchvision's ResNet class; depth 10 is its BasicBlock network with one block per stage."""
    try:
        from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
    except ImportError:
        raise ModelContractError("the vision baselines need torchvision; install it with "
                                 "`pip install 'gbench[structure]'` (matching your torch version).") from None

    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth}")
    block, layers = DEPTHS[depth]
    return ResNet(BasicBlock if block == "basic" else Bottleneck, layers, num_classes=out_dim)


class VisionNet(nn.Module):
    def __init__(self, info: TaskInfo, depth: int, weights: str | None, dropout: float) -> None:
        super().__init__()
        if not info.extras.get("image_size"):
            raise ModelContractError("the vision model reads batch.image: give its model spec an input transform "
                                     "such as `transforms: [render:kk:64]`.")
        self.net = _backbone(depth, info.out_dim)
        self.weights_sha256 = None
        if weights:
            with open(weights, "rb") as f:
                self.weights_sha256 = hashlib.sha256(f.read()).hexdigest()
            state = torch.load(weights, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = self.net.load_state_dict(state, strict=False)
            if unexpected or any(not k.startswith("fc.") for k in missing):
                raise ModelContractError(f"weights file {weights} does not fit a ResNet-{depth}: missing "
                                         f"{[k for k in missing if not k.startswith('fc.')][:3]}, unexpected "
                                         f"{unexpected[:3]}.")
        if dropout > 0:
            self.net.fc = nn.Sequential(nn.Dropout(dropout), self.net.fc)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, batch) -> Tensor:
        x = batch.image.float().div_(255.0)
        return self.net((x - self.mean) / self.std)


def resnet(info: TaskInfo, depth: int = 18, weights: str | None = None, dropout: float = 0.0) -> nn.Module:
    """A ResNet (He et al., CVPR 2016) of `depth` 10, 18, 34 or 50 on the rendered graph image."""
    return VisionNet(info, depth, weights, dropout)
