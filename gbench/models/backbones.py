"""Image backbones by name for the vision baselines: built for the rendered image size with a head sized for the
task, and started from nothing, from a user's state-dict file, or from the library's own ImageNet weights.

| arch | library | head | ImageNet weights (`weights: imagenet`) |
|---|---|---|---|
| resnet10 | torchvision ResNet class, one BasicBlock per stage | fc | none |
| resnet18 / resnet34 / resnet50 | torchvision | fc | `ResNet{18,34,50}_Weights.IMAGENET1K_V1` |
| vit_b_16 | torchvision VisionTransformer, patch 16 | heads.head | `ViT_B_16_Weights.IMAGENET1K_V1` |
| swin_t | torchvision | head | `Swin_T_Weights.IMAGENET1K_V1` |
| convnextv2_tiny | timm | head.fc | timm `convnextv2_tiny.fcmae_ft_in1k` |

Resolution: the convolutional backbones and Swin-T take any size (Swin pads each stage's token grid to a multiple
of its 7x7 window and turns the shift off where one window covers the grid). ViT-B/16 is built for the rendered
size (64 px: a 4x4 grid of 16-px patches plus the class token), so its position embeddings have 17 rows; weights
made at another size (ImageNet's 224 px: 197 rows) get their grid of embeddings resized bicubically, torchvision's
`interpolate_embeddings`, as when fine-tuning at a new resolution.

ImageNet weights come through the library's registry (torchvision's `Weights` enums, timm's pretrained configs) and
its cache (torch hub's `checkpoints/` folder, the Hugging Face hub cache). `GBENCH_OFFLINE=1` forbids downloading:
weights missing from the cache then fail with one sentence naming the URL and where to put the file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gbench.errors import ModelContractError


@dataclass(frozen=True)
class Arch:
    title: str
    library: str  # "torchvision" or "timm"
    head: str  # dotted attribute path of the classification nn.Linear
    imagenet: str | None  # torchvision "Enum.MEMBER", or a timm pretrained tag
    patch: int = 1  # the image side must be a multiple of this


ARCHS: dict[str, Arch] = {
    "resnet10": Arch("ResNet-10", "torchvision", "fc", None),
    "resnet18": Arch("ResNet-18", "torchvision", "fc", "ResNet18_Weights.IMAGENET1K_V1"),
    "resnet34": Arch("ResNet-34", "torchvision", "fc", "ResNet34_Weights.IMAGENET1K_V1"),
    "resnet50": Arch("ResNet-50", "torchvision", "fc", "ResNet50_Weights.IMAGENET1K_V1"),
    "vit_b_16": Arch("ViT-B/16", "torchvision", "heads.head", "ViT_B_16_Weights.IMAGENET1K_V1", patch=16),
    "swin_t": Arch("Swin-T", "torchvision", "head", "Swin_T_Weights.IMAGENET1K_V1"),
    "convnextv2_tiny": Arch("ConvNeXtV2-T", "timm", "head.fc", "convnextv2_tiny.fcmae_ft_in1k"),
}
RESNET_LAYERS = {10: ("basic", [1, 1, 1, 1]), 18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
                 50: ("bottleneck", [3, 4, 6, 3])}
HF_FILENAME = "model.safetensors"


def arch_of(name: str) -> Arch:
    if name not in ARCHS:
        raise ModelContractError(f"vision backbone '{name}' is unknown; give arch one of {', '.join(ARCHS)}.")
    return ARCHS[name]


def _import(library: str):
    try:
        if library == "timm":
            import timm
            return timm
        import torchvision.models
        return torchvision.models
    except ImportError:
        raise ModelContractError(f"the vision baselines need {library}; install it with "
                                 "`pip install 'gbench[structure]'` (matching your torch version).") from None


def build(name: str, out_dim: int, image_size: int) -> nn.Module:
    """The backbone `name` with a fresh `out_dim` head, for uint8-derived float images [B, 3, image_size,
    image_size] normalised with ImageNet's channel statistics; randomly initialised."""
    arch = arch_of(name)
    if image_size % arch.patch:
        raise ModelContractError(f"{arch.title} cuts the image into {arch.patch}-px patches, so the rendered size "
                                 f"must be a multiple of {arch.patch}; got {image_size} px (e.g. use render:kk:64).")
    lib = _import(arch.library)
    if name.startswith("resnet"):
        from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

        block, layers = RESNET_LAYERS[int(name[len("resnet"):])]
        return ResNet(BasicBlock if block == "basic" else Bottleneck, layers, num_classes=out_dim)
    if name == "vit_b_16":
        from torchvision.models.vision_transformer import VisionTransformer

        # torchvision's vit_b_16 configuration, built for the rendered size rather than 224 px.
        return VisionTransformer(image_size=image_size, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768,
                                 mlp_dim=3072, num_classes=out_dim)
    if name == "swin_t":
        return lib.swin_t(weights=None, num_classes=out_dim)
    return lib.create_model(name, pretrained=False, num_classes=out_dim)


def head_of(net: nn.Module, name: str) -> nn.Module:
    return net.get_submodule(arch_of(name).head)


def replace_head(net: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = arch_of(name).head.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, attr, module)


# ---------------------------------------------------------------------------------------------------------------
# Starting weights


def offline() -> bool:
    return os.environ.get("GBENCH_OFFLINE", "").lower() in ("1", "true", "yes")


def _hf_cache() -> str:
    import huggingface_hub.constants

    return os.environ.get("HF_HUB_CACHE") or huggingface_hub.constants.HF_HUB_CACHE


def imagenet_source(name: str) -> tuple[str, Path | None]:
    """(download URL, the cache file the library looks for; None where the cache is not a plain path)."""
    arch = arch_of(name)
    if arch.imagenet is None:
        with_weights = ", ".join(n for n, a in ARCHS.items() if a.imagenet)
        raise ModelContractError(f"{arch.title} has no ImageNet weights in {arch.library}'s registry; use one of "
                                 f"{with_weights}, or weights: null (from scratch) or weights: PATH.")
    if arch.library == "torchvision":
        lib = _import("torchvision")
        enum, member = arch.imagenet.split(".")
        url = getattr(lib, enum)[member].url
        return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    _import("timm")
    from timm.models import get_pretrained_cfg

    return f"https://huggingface.co/{get_pretrained_cfg(arch.imagenet).hf_hub_id}/resolve/main/{HF_FILENAME}", None


def _reason(e: Exception) -> str:
    """An exception as a short clause for inside a sentence: its type and the first sentence of its message."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = text.split(". ")[0].rstrip(".")
    return f"{type(e).__name__}: {text[:160]}" if text else type(e).__name__


def imagenet_file(name: str) -> Path:
    """The local file of `name`'s ImageNet weights, downloaded into the library's cache unless GBENCH_OFFLINE=1."""
    arch = arch_of(name)
    url, cached = imagenet_source(name)
    if arch.library == "torchvision":
        assert cached is not None
        if cached.is_file():
            return cached
        where = f"download {url} to {cached} (or save it anywhere and give that path as weights: PATH)"
        what = f"weights: imagenet for {arch.title} needs torchvision's {arch.imagenet} file, which is not in " \
               "torch hub's cache"
        if offline():
            raise ModelContractError(f"{what} and GBENCH_OFFLINE=1 forbids downloading it: {where}.")
        lib = _import("torchvision")
        enum, member = arch.imagenet.split(".")
        try:
            getattr(lib, enum)[member].get_state_dict(progress=False, check_hash=True)
        except Exception as e:  # no network, a proxy, a truncated file: the same fix in every case
            raise ModelContractError(f"{what} and could not be downloaded ({_reason(e)}): {where}.") from e
        return cached
    import huggingface_hub
    from timm.models import get_pretrained_cfg

    repo = get_pretrained_cfg(arch.imagenet).hf_hub_id
    found = huggingface_hub.try_to_load_from_cache(repo, HF_FILENAME, cache_dir=_hf_cache())
    if isinstance(found, str):
        return Path(found)
    where = f"download {url} and give its path as weights: /path/to/{HF_FILENAME}"
    what = f"weights: imagenet for {arch.title} needs timm's {arch.imagenet} weights, which are not in the " \
           f"Hugging Face cache {_hf_cache()}"
    if offline():
        raise ModelContractError(f"{what} and GBENCH_OFFLINE=1 forbids downloading them: {where}.")
    try:
        return Path(huggingface_hub.hf_hub_download(repo, HF_FILENAME, cache_dir=_hf_cache()))
    except Exception as e:
        raise ModelContractError(f"{what} and could not be downloaded ({_reason(e)}): {where}.") from e


def weights_file(name: str, weights: str) -> Path:
    """`weights` ('imagenet' or a path) as a readable local file; checked before the network is built."""
    if weights == "imagenet":
        return imagenet_file(name)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ModelContractError(f"weights file {weights} does not exist; give the path of a state dict saved with "
                                 "torch.save(model.state_dict()) (or a .safetensors file), weights: imagenet, or "
                                 "weights: null to train from scratch.")
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a torch.save file (plain tensors only) or a .safetensors file."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelContractError(f"weights file {path} is not a state dict torch.load (weights_only) or safetensors "
                                 f"can read ({type(e).__name__}: {e}); save one with "
                                 "torch.save(model.state_dict(), path).") from None
    # Training checkpoints often wrap the state dict (e.g. ConvNeXt-V2's release files: {'model': ...}).
    if isinstance(state, dict) and len(state) == 1 and next(iter(state)) in ("model", "state_dict"):
        state = next(iter(state.values()))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelContractError(f"weights file {path} holds a {type(state).__name__}, not a state dict of tensors; "
                                 "save one with torch.save(model.state_dict(), path).")
    return state


def load_weights(net: nn.Module, name: str, path: Path, image_size: int) -> None:
    """Copy every tensor of the file at `path` but the classification head into `net` (built by `build`)."""
    arch = arch_of(name)
    state = read_state(path)
    if name == "vit_b_16" and "encoder.pos_embedding" in state:
        from torchvision.models.vision_transformer import interpolate_embeddings

        state = interpolate_embeddings(image_size, 16, state)
    if arch.library == "timm":
        from timm.models.convnext import checkpoint_filter_fn

        state = checkpoint_filter_fn(state, net)  # the original release's key names -> timm's
    head = arch.head + "."
    state = {k: v for k, v in state.items() if not k.startswith(head)}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:3])
        raise ModelContractError(f"weights file {path} does not fit a {arch.title} at {image_size} px: "
                                 f"{detail}.") from None
    missing = [k for k in missing if not k.startswith(head)]
    if missing or unexpected:
        raise ModelContractError(f"weights file {path} does not fit a {arch.title}: missing {missing[:3]}, "
                                 f"unexpected {unexpected[:3]}.")
