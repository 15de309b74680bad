"""The vision baselines' backbones (ResNet-50, ViT-B/16, Swin-T, ConvNeXtV2-T, and the small ResNets) on rendered
graph images: output shape at 64 px, starting from a user's state dict, and `weights: imagenet` without a network.
No test touches the network: downloads are replaced by functions that fail the test."""

from __future__ import annotations

import hashlib
import importlib.util
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("torchvision")

from gbench.errors import ModelContractError  # noqa: E402
from gbench.models.contract import TaskInfo  # noqa: E402
from gbench.models.vision import backbone, resnet  # noqa: E402

HEADS = {"resnet50": "fc", "vit_b_16": "heads.head", "swin_t": "head", "convnextv2_tiny": "head.fc"}
NEEDS_TIMM = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed")
ARCHS = [pytest.param(a, marks=NEEDS_TIMM) if a == "convnextv2_tiny" else a for a in HEADS]


def info(out_dim: int, size: int = 64) -> TaskInfo:
    return TaskInfo(level="graph", target="multiclass", num_features=0, out_dim=out_dim, extras={"image_size": size})


def images(n: int, size: int = 64, channels: int = 3) -> SimpleNamespace:
    g = torch.Generator().manual_seed(0)
    return SimpleNamespace(image=torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g))


@pytest.fixture
def no_downloads(monkeypatch, tmp_path):
    """Empty library caches under tmp_path, and every download function of torch hub and the Hugging Face hub
    replaced by one that fails the test."""
    def refuse(*args, **kwargs):
        pytest.fail(f"a download was attempted: {args}")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    if importlib.util.find_spec("huggingface_hub") is not None:  # timm's weight store
        import huggingface_hub
        import huggingface_hub.file_download

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
        monkeypatch.setattr(huggingface_hub.file_download, "hf_hub_download", refuse)
    return tmp_path


@pytest.mark.parametrize("arch", ARCHS)
def test_backbone_at_64px_gives_out_dim_and_starts_from_a_state_dict_it_is_given(arch, tmp_path):
    torch.manual_seed(0)
    # ViT-B/16's donor is made at 32 px (2x2 patches), so loading it at 64 px (4x4) resizes the position embeddings.
    donor = backbone(info(5, 32 if arch == "vit_b_16" else 64), arch=arch)
    path = tmp_path / "donor.pt"
    torch.save(donor.net.state_dict(), path)
    torch.manual_seed(1)
    model = backbone(info(3), arch=arch, weights=str(path))
    model.eval()
    assert model(images(2)).shape == (2, 3)
    assert model.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    got, want = model.net.state_dict(), donor.net.state_dict()
    head = HEADS[arch] + "."
    assert got[head + "weight"].shape[0] == 3
    same = [k for k in want if not k.startswith(head) and k != "encoder.pos_embedding"]
    assert same and all(torch.equal(got[k], want[k]) for k in same)
    if arch == "vit_b_16":
        assert got["encoder.pos_embedding"].shape == (1, 17, 768)  # the class token + 4x4 patches
        assert torch.equal(got["encoder.pos_embedding"][:, 0], want["encoder.pos_embedding"][:, 0])


@pytest.mark.parametrize("arch", ARCHS)
def test_imagenet_weights_offline_name_the_file_and_where_to_put_it(arch, no_downloads):
    with pytest.raises(ModelContractError) as err:
        backbone(info(3), arch=arch, weights="imagenet")
    message = str(err.value)
    assert "\n" not in message and message.endswith(".") and "GBENCH_OFFLINE=1" in message
    if arch == "convnextv2_tiny":
        assert "https://huggingface.co/timm/convnextv2_tiny.fcmae_ft_in1k/resolve/main/model.safetensors" in message
        assert str(no_downloads / "hf") in message and "weights: /path/to/model.safetensors" in message
    else:
        import torchvision.models as tvm

        enum = {"resnet50": tvm.ResNet50_Weights, "vit_b_16": tvm.ViT_B_16_Weights, "swin_t": tvm.Swin_T_Weights}
        url = enum[arch].IMAGENET1K_V1.url
        assert url.startswith("https://download.pytorch.org/models/") and url in message
        assert str(no_downloads / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]) in message


def test_imagenet_weights_placed_in_the_torch_hub_cache_load_offline(no_downloads):
    import torchvision.models as tvm

    torch.manual_seed(0)
    donor = tvm.resnet18(num_classes=1000)  # stands in for the ImageNet file, with ImageNet's 1000-class head
    cached = no_downloads / "torch" / "hub" / "checkpoints" / tvm.ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    torch.save(donor.state_dict(), cached)
    model = resnet(info(4), depth=18, weights="imagenet")
    assert torch.equal(model.net.conv1.weight, donor.conv1.weight) and model.net.fc.out_features == 4
    assert model(images(2)).shape == (2, 4)


def test_imagenet_download_failure_is_one_sentence(monkeypatch, no_downloads):
    from urllib.error import URLError

    def unreachable(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.delenv("GBENCH_OFFLINE")
    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(ModelContractError, match=r"could not be downloaded \(URLError.*download https://download"
                                                 r"\.pytorch\.org/models/resnet50-\w+\.pth to .*checkpoints"):
        resnet(info(3), depth=50, weights="imagenet")


def test_bad_weights_are_one_clear_sentence(tmp_path, no_downloads):
    with pytest.raises(ModelContractError, match=r"weights file .*missing\.pt does not exist; give the path"):
        resnet(info(3), depth=10, weights=str(tmp_path / "missing.pt"))
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(ModelContractError, match=r"notes\.txt is not a state dict"):
        resnet(info(3), depth=10, weights=str(tmp_path / "notes.txt"))
    torch.save(resnet(info(3), depth=10).net.state_dict(), tmp_path / "resnet10.pt")
    with pytest.raises(ModelContractError, match=r"resnet10\.pt does not fit a ResNet-18: missing \['layer1\.1"):
        resnet(info(3), depth=18, weights=str(tmp_path / "resnet10.pt"))
    with pytest.raises(ModelContractError, match="ResNet-10 has no ImageNet weights"):
        resnet(info(3), depth=10, weights="imagenet")
    with pytest.raises(ModelContractError, match="multiple of 16; got 40 px"):
        backbone(info(3, 40), arch="vit_b_16")
    with pytest.raises(ModelContractError, match="vision backbone 'vit_l_32' is unknown"):
        backbone(info(3), arch="vit_l_32")


def test_grayscale_images_are_read_as_three_equal_channels():
    torch.manual_seed(0)
    model = resnet(info(2), depth=10).eval()
    gray = images(2, channels=1)
    assert torch.equal(model(gray), model(SimpleNamespace(image=gray.image.expand(-1, 3, -1, -1))))
