"""The CNN trunks the feature extractors run: ResNet-18/50/101/152 and the 18-layer video
ResNets r3d_18 / mc3_18 / r2plus1d_18, written here so the project needs no torchvision.

Why not torchvision: its Linux wheels on PyPI are built against the CUDA build of torch
(its compiled ops link ``libtorch_cuda.so``), so it cannot sit beside the CPU build of
torch, and the CUDA build is 5.5 GB of a 6.5 GB environment. Without torchvision the
project installs the CPU torch in a fraction of that. The architectures are the same
ones, module for module, so that a state dict saved from torchvision's
``resnet50(...).state_dict()`` or ``r3d_18(...)`` loads here by the same names and
gives the same features (checked against torchvision 0.29 when this was written: the
same state-dict keys in the same order, and bit-identical outputs in eval mode for every
architecture below; the tests check names, shapes and parameter counts against the
numbers torchvision documents).

    trunk = build("resnet50")      # (B, 3, 224, 224) -> (B, 2048), the pooled feature
    trunk = build("r2plus1d_18")   # (B, 3, 16, 112, 112) -> (B, 512)

The classifier (``fc``) is left out: the extractors keep the pooled feature (the paper
used ResNet-152 pool5 and C3D clip features), and a weights file's ``fc.*`` tensors
are dropped on load.
"""
from __future__ import annotations

import torch
from torch import nn

# ---------------------------------------------------------------- 2D ResNet (He et al. 2016)


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut (ResNet-18/34). in (B, C, H, W) -> (B, planes, H/s, W/s)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, "ResNet v1.5" as torchvision) -> 1x1 x4 (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max-pool), four stages, global average pool.

    (B, 3, H, W) float, ImageNet-normalised -> (B, 512 * block.expansion).
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int]):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block, 64, layers[0], 1)
        self.layer2 = self._stage(block, 128, layers[1], 2)
        self.layer3 = self._stage(block, 256, layers[2], 2)
        self.layer4 = self._stage(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():  # He init for convs, identity BN: torchvision's random init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        stage = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


# ---------------------------------------------------------------- video ResNets (Tran et al. 2018)
# Each conv "builder" makes the 3x3x3 conv of a block in one of three ways; the shortcut's
# 1x1x1 conv must shrink time and space as the builder does, hence downsample_stride.


class Conv3DSimple(nn.Conv3d):
    """Full 3x3x3 conv (R3D)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1):
        super().__init__(in_planes, out_planes, (3, 3, 3), stride, 1, bias=False)

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return stride, stride, stride


class Conv3DNoTemporal(nn.Conv3d):
    """1x3x3 conv, space only (the upper stages of MC3)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1):
        super().__init__(in_planes, out_planes, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return 1, stride, stride


class Conv2Plus1D(nn.Sequential):
    """1x3x3 conv to ``midplanes``, BN, ReLU, then 3x1x1 conv (R(2+1)D)."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1):
        super().__init__(
            nn.Conv3d(in_planes, midplanes, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(midplanes, out_planes, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
        )

    @staticmethod
    def downsample_stride(stride: int) -> tuple[int, int, int]:
        return stride, stride, stride


class VideoBlock(nn.Module):
    """Two convs of ``builder`` and a shortcut. (B, C, T, H, W) -> (B, planes, T', H/s, W/s)."""

    def __init__(self, inplanes: int, planes: int, builder, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        # R(2+1)D's mid width keeps the parameter count of the full 3x3x3 conv it replaces
        midplanes = (inplanes * planes * 27) // (inplanes * 9 + 3 * planes)
        self.conv1 = nn.Sequential(builder(inplanes, planes, midplanes, stride), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(builder(planes, planes, midplanes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


def _basic_stem() -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))


def _r2plus1d_stem() -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
                         nn.BatchNorm3d(45), nn.ReLU(inplace=True),
                         nn.Conv3d(45, 64, (3, 1, 1), 1, (1, 0, 0), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))


class VideoResNet(nn.Module):
    """Stem, four stages of two blocks, global average pool over (T, H, W).

    (B, 3, T, H, W) float, Kinetics-normalised -> (B, 512).
    """

    def __init__(self, builders: list, stem: nn.Module):
        super().__init__()
        self.inplanes = 64
        self.stem = stem
        self.layer1 = self._stage(builders[0], 64, 1)
        self.layer2 = self._stage(builders[1], 128, 2)
        self.layer3 = self._stage(builders[2], 256, 2)
        self.layer4 = self._stage(builders[3], 512, 2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, builder, planes: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes, 1, builder.downsample_stride(stride), bias=False),
                nn.BatchNorm3d(planes))
        stage = nn.Sequential(VideoBlock(self.inplanes, planes, builder, stride, downsample),
                              VideoBlock(planes, planes, builder))
        self.inplanes = planes
        return stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return torch.flatten(self.avgpool(x), 1)


# ---------------------------------------------------------------- the names the extractors use

_ARCH = {
    "resnet18": lambda: ResNet(BasicBlock, [2, 2, 2, 2]),
    "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3]),
    "resnet101": lambda: ResNet(Bottleneck, [3, 4, 23, 3]),
    "resnet152": lambda: ResNet(Bottleneck, [3, 8, 36, 3]),
    "r3d_18": lambda: VideoResNet([Conv3DSimple] * 4, _basic_stem()),
    "mc3_18": lambda: VideoResNet([Conv3DSimple] + [Conv3DNoTemporal] * 3, _basic_stem()),
    "r2plus1d_18": lambda: VideoResNet([Conv2Plus1D] * 4, _r2plus1d_stem()),
}
NAMES = tuple(_ARCH)


def build(name: str) -> nn.Module:
    """A randomly initialised trunk (seed it first for reproducible random features)."""
    return _ARCH[name]()
