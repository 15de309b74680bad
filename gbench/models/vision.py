"""Vision baselines for graph-level tasks: an image backbone on a drawing of each graph (GraphAbstract).

The model reads `batch.image` (uint8 [num_graphs, C, H, W], C = 3, or 1 repeated to 3), attached by the spec's
`render:<layout>:<size>` transform (gbench.data.render), and never looks at the graph itself. It follows the model
contract: `backbone(info, arch=..., **hparams)` / `resnet(info, depth=..., **hparams)` and
`model(batch) -> Tensor[num_graphs, info.out_dim]`. The backbones (ResNet-10/18/34/50, ViT-B/16, Swin-T,
ConvNeXtV2-T) and how each meets a small image are in gbench.models.backbones.

Weights: trained from scratch by default (`weights: null`); `weights: path/to/state_dict.pt` (or `.safetensors`)
starts the backbone from a user's file, every tensor but the classification head, which is replaced to fit
`out_dim`; `weights: imagenet` starts it from the library's own ImageNet weights (downloaded into its cache, or an
error naming the file to fetch when GBENCH_OFFLINE=1). The file's sha256 is kept on the model (`weights_sha256`),
and the `weights` value is a hyperparameter, hence part of the job identity and the record.
"""

from __future__ import annotations

from torch import Tensor, nn

from gbench.errors import ModelContractError
from gbench.models import backbones
from gbench.models.contract import TaskInfo

# ImageNet channel statistics, so that ImageNet weights see the inputs they were trained on.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class VisionNet(nn.Module):
    def __init__(self, info: TaskInfo, arch: str, weights: str | None, dropout: float) -> None:
        super().__init__()
        import torch

        size = info.extras.get("image_size")
        if not size:
            raise ModelContractError("the vision model reads batch.image: give its model spec an input transform "
                                     "such as `transforms: [render:kk:64]`.")
        backbones.arch_of(arch)
        # The weights file is found (or its absence reported) before the network is built: a missing ImageNet
        # file fails in a moment, not after ViT-B's 86M parameters are initialised.
        path = backbones.weights_file(arch, weights) if weights else None
        self.net = backbones.build(arch, info.out_dim, int(size))
        self.weights_sha256 = None
        if path is not None:
            self.weights_sha256 = backbones.sha256(path)
            backbones.load_weights(self.net, arch, path, int(size))
        if dropout > 0:
            backbones.replace_head(self.net, arch, nn.Sequential(nn.Dropout(dropout),
                                                                 backbones.head_of(self.net, arch)))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, batch) -> Tensor:
        x = batch.image.float().div_(255.0)
        if x.shape[1] == 1:  # a grayscale drawing: the same plane on the three channels ImageNet backbones expect
            x = x.expand(-1, 3, -1, -1)
        return self.net((x - self.mean) / self.std)


def backbone(info: TaskInfo, arch: str, weights: str | None = None, dropout: float = 0.0) -> nn.Module:
    """The image backbone `arch` (resnet10/18/34/50, vit_b_16, swin_t, convnextv2_tiny) on the rendered graph image,
    with a new `out_dim` head (dropout `dropout` before it)."""
    return VisionNet(info, arch, weights, dropout)


def resnet(info: TaskInfo, depth: int = 18, weights: str | None = None, dropout: float = 0.0) -> nn.Module:
    """A ResNet (He et al., CVPR 2016) of `depth` 10, 18, 34 or 50 on the rendered graph image."""
    if depth not in backbones.RESNET_LAYERS:
        raise ValueError(f"depth must be one of {sorted(backbones.RESNET_LAYERS)}, got {depth}")
    return VisionNet(info, f"resnet{depth}", weights, dropout)
