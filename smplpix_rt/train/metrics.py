"""Image quality metrics: PSNR and SSIM on (N, 3, H, W) tensors in [0, 1].

SSIM follows Wang et al. (2004): an 11x11 Gaussian window with sigma 1.5, constants
``K1 = 0.01``, ``K2 = 0.03`` for a dynamic range of 1, computed per channel on the valid
(unpadded) area and averaged over channels and pixels. PSNR is ``10 log10(1 / MSE)`` per image.
Both are computed in float32 whatever dtype the inputs have.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_WINDOW = 11
_SIGMA = 1.5
_C1 = 0.01**2
_C2 = 0.03**2


def _check(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(
            f"metrics need two (N, C, H, W) tensors of one shape, got {prediction.shape} and {target.shape}"
        )
    return prediction.float(), target.float()


def psnr(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image.

    Args:
        prediction: (N, C, H, W) values in [0, 1].
        target: (N, C, H, W) values in [0, 1].

    Returns:
        (N,) float32 PSNR in dB (capped at 100 dB for identical images).
    """
    prediction, target = _check(prediction, target)
    mse = (prediction - target).pow(2).flatten(1).mean(1)
    return (10.0 * torch.log10(1.0 / mse.clamp_min(eps))).clamp_max(100.0)


def _gaussian_taps(device: torch.device) -> torch.Tensor:
    x = torch.arange(_WINDOW, dtype=torch.float32, device=device) - (_WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * _SIGMA**2))
    return g / g.sum()


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter over H and W of (N, C, H, W), valid area only."""
    channels = x.shape[1]
    g = _gaussian_taps(x.device)
    x = F.conv2d(x, g.view(1, 1, 1, _WINDOW).expand(channels, 1, 1, _WINDOW), groups=channels)
    return F.conv2d(x, g.view(1, 1, _WINDOW, 1).expand(channels, 1, _WINDOW, 1), groups=channels)


def ssim_map(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM.

    Args:
        prediction: (N, C, H, W) values in [0, 1], H and W >= 11.
        target: (N, C, H, W) values in [0, 1].

    Returns:
        (N, C, H - 10, W - 10) float32 SSIM values.
    """
    prediction, target = _check(prediction, target)
    channels = prediction.shape[1]
    if min(prediction.shape[2:]) < _WINDOW:
        raise ValueError(f"SSIM needs images of at least {_WINDOW}x{_WINDOW} pixels, got {tuple(prediction.shape[2:])}")
    stack = torch.cat([prediction, target, prediction * prediction, target * target, prediction * target], 1)
    mu_p, mu_t, p2, t2, pt = _blur(stack).split(channels, dim=1)
    var_p, var_t, cov = p2 - mu_p**2, t2 - mu_t**2, pt - mu_p * mu_t
    numerator = (2 * mu_p * mu_t + _C1) * (2 * cov + _C2)
    denominator = (mu_p**2 + mu_t**2 + _C1) * (var_p + var_t + _C2)
    return numerator / denominator


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean structural similarity per image.

    Args:
        prediction: (N, C, H, W) values in [0, 1].
        target: (N, C, H, W) values in [0, 1].

    Returns:
        (N,) float32 SSIM in [-1, 1] (1 = identical).
    """
    return ssim_map(prediction, target).flatten(1).mean(1)


__all__ = ["psnr", "ssim", "ssim_map"]
