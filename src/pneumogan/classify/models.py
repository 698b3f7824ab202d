"""Classifier registry: `build(name, num_classes, in_channels=1, ...)` for every supported architecture.

| name        | source                 | minimum input | notes                                        |
|-------------|------------------------|---------------|----------------------------------------------|
| simple_cnn  | here                   | 16 px         | 4 × (conv-BN-ReLU ×2, max-pool), GAP, dropout |
| vgg16       | here (torchvision keys)| 32 px         | `batch_norm=True` for the BN variant         |
| densenet121 | monai.networks.nets    | 32 px         | ImageNet transfer with key mapping           |
| resnet18    | monai.networks.nets    | 32 px         | torchvision-compatible key names             |

Every model takes (B, in_channels, H, W) and returns logits (B, num_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pneumogan.classify.pretrained import load_imagenet_weights
from pneumogan.data.regions import box_slices, centre_box
from pneumogan.device import cpu_reports_bf16
from pneumogan.errors import PneumoganError


@dataclass(frozen=True)
class ArchInfo:
    builder: Callable[..., nn.Module]
    min_size: int
    head: tuple[str, ...]  # parameter-name prefixes of the classification head
    first_conv: str  # weight of the first convolution (folded from RGB for 1-channel input)
    last_blocks: tuple[str, ...]  # prefixes unfrozen in stage 2 of fine-tuning
    pretrained_file: str | None = None  # torchvision ImageNet weights file name
    cam_layer: str = ""  # Grad-CAM target: the last spatial feature map before global pooling
    head_module: str = ""  # the final Linear layer; replaced by an identity, the model is a feature encoder
    # Train in NHWC memory format on every device? Measured per architecture (benchmarks/results/speed/throughput.json):
    # on the AVX2 CPU 15-30 % faster for simple_cnn and resnet18, ~5 % for vgg16, 4 % slower for densenet121 —
    # False means "only where it measured faster for every net": a CPU with AMX / AVX512-BF16 (densenet121 +16 %
    # in fp32, +41 % in bf16 there). See `use_channels_last`.
    channels_last: bool = True


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SimpleCNN(nn.Module):
    """A compact conv-BN-ReLU-pool network in the spirit of the seeds' custom CNN."""

    def __init__(self, num_classes: int = 2, in_channels: int = 1, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for k in range(4):
            cout = width * 2**k
            layers += [*_conv_bn(cin, cout), *_conv_bn(cout, cout), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    """VGG16 (configuration D) with torchvision's parameter names, so ImageNet weights load directly."""

    def __init__(
        self, num_classes: int = 2, in_channels: int = 1, batch_norm: bool = False, dropout: float = 0.5
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, int(v), 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(v)))
            layers.append(nn.ReLU(inplace=True))
            cin = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _densenet121(num_classes: int, in_channels: int, dropout: float = 0.0) -> nn.Module:
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=num_classes, dropout_prob=dropout)


def _resnet18(num_classes: int, in_channels: int) -> nn.Module:
    from monai.networks.nets import ResNet

    # conv1 7×7 stride 2 and a max-pool, as in torchvision, so ImageNet weights fit.
    return ResNet(
        block="basic",
        layers=[2, 2, 2, 2],
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=2,
        n_input_channels=in_channels,
        conv1_t_size=7,
        conv1_t_stride=2,
        num_classes=num_classes,
        bias_downsample=False,
    )


REGISTRY: dict[str, ArchInfo] = {
    "simple_cnn": ArchInfo(
        SimpleCNN,
        16,
        ("classifier.",),
        "features.0.weight",
        ("features.21.", "features.22.", "features.24.", "features.25.", "classifier."),
        cam_layer="features.25",
        head_module="classifier.2",
    ),
    "vgg16": ArchInfo(
        VGG16,
        32,
        ("classifier.6.",),
        "features.0.weight",
        ("features.24.", "features.26.", "features.28.", "classifier."),
        "vgg16-397923af.pth",
        cam_layer="features.28",
        head_module="classifier.6",
    ),
    "vgg16_bn": ArchInfo(
        lambda **kw: VGG16(batch_norm=True, **kw),
        32,
        ("classifier.6.",),
        "features.0.weight",
        ("features.34.", "features.35.", "features.37.", "features.38.", "features.40.", "features.41.", "classifier."),
        "vgg16_bn-6c64b313.pth",
        cam_layer="features.41",
        head_module="classifier.6",
    ),
    "densenet121": ArchInfo(
        _densenet121,
        32,
        ("class_layers.",),
        "features.conv0.weight",
        ("features.denseblock4", "features.norm5", "class_layers."),
        "densenet121-a639ec97.pth",
        cam_layer="class_layers.relu",
        head_module="class_layers.out",
        channels_last=False,
    ),
    "resnet18": ArchInfo(
        _resnet18,
        32,
        ("fc.",),
        "conv1.weight",
        ("layer4.", "fc."),
        "resnet18-f37072fd.pth",
        cam_layer="layer4",
        head_module="fc",
    ),
}


def names() -> list[str]:
    return sorted(REGISTRY)


def info(name: str) -> ArchInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        raise PneumoganError(f"unknown architecture '{name}'; choose one of: {', '.join(names())}") from None


class BlankBorder:
    """Forward pre-hook that sets every pixel outside the central box to 0 (the training mean after
    normalisation) before the network sees it: a way to train and serve a model that cannot use the image
    border (collimation edges, markers, body outline). Being part of the model, it applies in training,
    evaluation, predict, the server, Grad-CAM and the ONNX graph alike, and leaves the weights' names alone."""

    def __init__(self, border: float) -> None:
        self.border = border

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = args[0]
        h, w = (int(d) for d in x.shape[-2:])  # plain ints: the ONNX tracer hands out tensor sizes
        mask = torch.zeros(h, w, dtype=x.dtype, device=x.device)
        rows, cols = box_slices((h, w), centre_box(self.border))
        mask[rows, cols] = 1
        return (x * mask, *args[1:])


class StandardiseImage:
    """Forward pre-hook that gives every input image zero mean and unit standard deviation over its own pixels
    (per image and channel) before the network sees it: exposure and contrast differences between
    scanners and time windows no longer reach the first convolution. Part of the model, like `BlankBorder`,
    so training, evaluation, predict, the server, Grad-CAM and ONNX apply it alike. Being affine-invariant,
    it gives the same result whatever mean and std the images were normalised with before."""

    eps = 1e-5

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = args[0]
        mean = x.mean(dim=(-2, -1), keepdim=True)
        std = x.std(dim=(-2, -1), keepdim=True, unbiased=False)
        return ((x - mean) / (std + self.eps), *args[1:])


def build(
    name: str,
    num_classes: int = 2,
    in_channels: int = 1,
    pretrained: bool = False,
    image_size: int | None = None,
    blank_border: float = 0.0,
    standardise_input: bool = False,
) -> nn.Module:
    """Build `name`; with `pretrained`, load torchvision ImageNet weights and fold conv1 to `in_channels`;
    with `blank_border` > 0, the model ignores that fraction of each image side (see `BlankBorder`); with
    `standardise_input`, each image is standardised on its own first (see `StandardiseImage`)."""
    arch = info(name)
    if image_size is not None and image_size < arch.min_size:
        raise PneumoganError(f"{name} needs images of at least {arch.min_size} px, got {image_size}")
    if not 0.0 <= blank_border < 0.5:
        raise PneumoganError(f"blank_border is a fraction of each side below 0.5, got {blank_border}")
    model = arch.builder(num_classes=num_classes, in_channels=in_channels)
    if pretrained:
        load_imagenet_weights(model, name, arch, in_channels)
    if standardise_input:  # before the border is blanked, so the blanked pixels sit at the image's mean
        model.register_forward_pre_hook(StandardiseImage())
    if blank_border > 0:
        model.register_forward_pre_hook(BlankBorder(blank_border))
    return model


def build_encoder(name: str, image_size: int | None = None) -> tuple[nn.Module, int]:
    """`name` without its final Linear layer (and with dropout off): a 1-channel image → feature-vector
    encoder whose parameter names are the classifier's, so its weights load into `build(name)` as they are.
    Returns the encoder and its feature dimension."""
    arch = info(name)
    model = build(name, num_classes=2, image_size=image_size)
    head = model.get_submodule(arch.head_module)
    if not isinstance(head, nn.Linear):
        raise PneumoganError(f"{name}: {arch.head_module} is not the final Linear layer")
    parent_name, _, child = arch.head_module.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, nn.Identity())
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0  # features for self-supervision and probes are not dropped out
    return model, head.in_features


def head_parameter_names(name: str) -> set[str]:
    """Names of the final Linear layer's parameters in `build(name)` (what an encoder does not have)."""
    module = info(name).head_module
    return {f"{module}.weight", f"{module}.bias"}


def use_channels_last(name: str, setting: bool | str, device: torch.device | None = None) -> bool:
    """The memory format to train `name` in on `device`: the setting, or with `auto` the measured choice — NHWC
    for every architecture on a CPU with AMX / AVX512-BF16, else the architecture's own `channels_last`."""
    if setting != "auto":
        return bool(setting)
    if info(name).channels_last:
        return True
    return device is not None and device.type == "cpu" and cpu_reports_bf16()
