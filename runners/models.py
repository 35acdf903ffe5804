"""Vision models for 32x32 inputs: the ThermoLion paper's ConvNet, CIFAR ResNets, a small ViT.

The top-level children of each model are its "blocks" for ``optim.groups`` (groups="block").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


class ConvNet(nn.Module):
    """The paper's network: [conv3x3(pad 1) -> ReLU -> maxpool2] x 2 (32, 64 maps), 64*8*8 -> 256 -> classes."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU(), nn.Linear(256, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.block2(self.block1(x)))


class BasicBlock(nn.Module):
    """He et al. (2016) CIFAR block: two conv3x3-BN, ReLU; parameter-free shortcut (option A)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


class ResNet(nn.Module):
    """CIFAR ResNet-(6n+2) with BatchNorm+ReLU: 16/32/64 channels, n blocks per stage."""

    def __init__(self, depth: int, channels: int, classes: int):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        stages, cin = [], 16
        for i, cout in enumerate((16, 32, 64)):
            blocks = [BasicBlock(cin if j == 0 else cout, cout, 2 if (i and j == 0) else 1) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stage1, self.stage2, self.stage3 = stages
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stage3(self.stage2(self.stage1(self.stem(x)))))


class ViT(nn.Module):
    """A small pre-norm ViT: 4x4 patches (64 tokens), class token, learned positions."""

    def __init__(self, channels: int, classes: int, dim: int = 128, depth: int = 6,
                 heads: int = 4, patch: int = 4):
        super().__init__()
        self.embed = nn.Conv2d(channels, dim, patch, patch)
        self.tokens = nn.ParameterDict({
            "cls": nn.Parameter(torch.zeros(1, 1, dim)),
            "pos": nn.Parameter(torch.randn(1, 1 + (32 // patch) ** 2, dim) * 0.02),
        })
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.tokens["cls"].expand(len(x), -1, -1), x], 1) + self.tokens["pos"]
        return self.head(self.encoder(x)[:, 0])


MODELS = ("convnet", "resnet20", "resnet56", "vit")
PLUGIN_MODELS: dict[str, Callable[[int, int], nn.Module]] = {}  # a plugin task's model, by task name


def register(name: str, make: Callable[[int, int], nn.Module]) -> None:
    """A plugin task's ``model(channels, classes)`` (study.plugins.register_task)."""
    PLUGIN_MODELS[name] = make


def unregister(name: str) -> None:
    PLUGIN_MODELS.pop(name, None)


def build_model(name: str, channels: int, classes: int) -> nn.Module:
    """A model by name; an unknown name raises ``ValueError`` naming it."""
    if name == "convnet":
        return ConvNet(channels, classes)
    if name in ("resnet20", "resnet56"):
        return ResNet(int(name[6:]), channels, classes)
    if name == "vit":
        return ViT(channels, classes)
    if name in PLUGIN_MODELS:
        model = PLUGIN_MODELS[name](channels, classes)
        if not isinstance(model, nn.Module):
            raise TypeError(f"task {name!r}: model(channels, classes) returned {type(model).__name__}, "
                            "not a torch.nn.Module")
        return model
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
