"""Perceptual (VGG16 feature) loss from weights the user supplies; nothing is ever downloaded.

SMPLpix trains with an L1 loss on frozen ImageNet VGG16 features. Pass the weights of a
torchvision-style VGG16 (a ``.pth`` state dict, loaded with ``weights_only=True``, or a
``.safetensors`` file) whose convolution keys are ``features.<index>.weight`` / ``.bias`` (a whole
``vgg16`` state dict works; the classifier is ignored). The loss compares the activations after
``relu1_2``, ``relu2_2`` and ``relu3_3`` of prediction and target.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from smplpix_rt.errors import InputError, ModelFileError

# VGG16 "features" up to relu3_3: (index in torchvision's Sequential, in, out) of each conv.
_CONVS = ((0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256))
_TAPS = (3, 8, 15)  # indices after relu1_2, relu2_2, relu3_3
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def _vgg16_head() -> nn.Sequential:
    layers: list[nn.Module] = []
    convs = {index: (cin, cout) for index, cin, cout in _CONVS}
    for index in range(_TAPS[-1] + 1):
        if index in convs:
            layers.append(nn.Conv2d(*convs[index], 3, padding=1))
        elif index in (4, 9):
            layers.append(nn.MaxPool2d(2))
        else:
            layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise InputError(f"VGG weights {path} do not exist (they are never downloaded; pass a local file)")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable VGG16 state dict ({exc})") from None
    if not isinstance(state, dict):
        raise ModelFileError(f"{path} does not hold a state dict")
    return state


class VGGPerceptualLoss(nn.Module):
    """L1 distance between frozen VGG16 features of prediction and target.

    Args:
        weights: path of the VGG16 weights (see module docs).

    Raises:
        InputError / ModelFileError: missing file or weights without the VGG16 feature layers.
    """

    def __init__(self, weights: Path) -> None:
        super().__init__()
        state = _read_weights(Path(weights))
        self.features = _vgg16_head()
        wanted = {}
        for index, _, _ in _CONVS:
            for name in ("weight", "bias"):
                key = f"features.{index}.{name}"
                if key not in state:
                    raise ModelFileError(f"{weights} lacks {key}: not a torchvision-style VGG16 state dict")
                wanted[f"{index}.{name}"] = state[key].float()
        try:
            self.features.load_state_dict(wanted)
        except RuntimeError as exc:
            raise ModelFileError(f"{weights}: VGG16 tensor shapes do not match ({exc})") from None
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen: always inference behaviour
        return self

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean L1 over the tapped feature maps; inputs (N, 3, H, W) in [0, 1]."""
        x = torch.cat([prediction, target]).sub(self.mean).div(self.std)
        loss = prediction.new_zeros(())
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAPS:
                p, t = x.chunk(2)
                loss = loss + F.l1_loss(p, t.detach())
        return loss / len(_TAPS)


__all__ = ["VGGPerceptualLoss"]
