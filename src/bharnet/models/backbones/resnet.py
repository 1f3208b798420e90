"""ResNet-18, the image backbone of BHaRNet-M's RGB stream: plain PyTorch whose ``state_dict`` keys and shapes
are torchvision's ``resnet18``, so an ImageNet weights file for torchvision loads (:func:`load_imagenet_weights`)
without torchvision installed. Images are ``(N, 3, H, W)``; not a graph backbone, so not in their registry."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["BasicBlock", "ResNet18", "load_imagenet_weights"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual (torchvision's ``BasicBlock``; same attribute names).
    ``(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)``."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) with torchvision's module names. ``(N, 3, H, W) -> (N, num_classes)``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        c_in = 64
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(c_in, width, stride), BasicBlock(width, width)))
            c_in = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        """``(N, 3, H, W) -> (N, 512)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def load_imagenet_weights(model: ResNet18, source: str | Path | Mapping[str, Tensor]) -> list[str]:
    """Load torchvision ``resnet18`` weights (a ``.pth`` state dict, read without running pickled code),
    keeping ``model.fc`` when its class count differs. Returns the keys left at their initialisation."""
    from ...checkpoint import state_dict_of

    state = state_dict_of(source)
    own = model.state_dict()
    unknown = [k for k in state if k not in own]
    if unknown:
        raise ValueError(f"not ResNet-18 weights: unexpected keys {unknown[:5]}")
    usable = {k: v for k, v in state.items() if own[k].shape == v.shape}
    wrong = [k for k in state if k not in usable and not k.startswith("fc.")]
    if wrong:
        raise ValueError(f"ResNet-18 weights with the wrong shapes: {wrong[:5]}")
    model.load_state_dict(usable, strict=False)
    return [k for k in own if k not in usable]
