"""Data augmentation that keeps G-buffer inputs and target images consistent.

A random integer translation moves the input planes and the target image by the same number of
pixels, which is exactly what shifting the camera's principal point does: both stay a valid
(input, target) pair. Uncovered input pixels take the encoding's background value; uncovered
target pixels take the image's border colour (the median of its outermost pixels), which is exact
for the plain backgrounds of synthetic and studio data.

Flips and rotations are not offered: mirroring an image is not mirroring the body (a left-right
asymmetric outfit would become a different outfit), and in-plane rotation would tilt the
camera-space normals the generator reads.
"""

from __future__ import annotations

import torch


def border_colour(images: torch.Tensor) -> torch.Tensor:
    """(N, C) median of the outermost pixel ring of each (N, C, H, W) image."""
    ring = torch.cat([images[:, :, 0, :], images[:, :, -1, :], images[:, :, 1:-1, 0], images[:, :, 1:-1, -1]], dim=2)
    return ring.float().median(dim=2).values


def _shift(image: torch.Tensor, dy: int, dx: int, fill: torch.Tensor) -> torch.Tensor:
    """(C, H, W) image moved by (dy, dx) pixels; uncovered pixels set to ``fill`` (C,)."""
    _, h, w = image.shape
    out = fill.to(image.dtype)[:, None, None].expand_as(image).clone()
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = image[:, ys, xs]
    return out


def random_shift(
    planes: torch.Tensor,
    targets: torch.Tensor,
    plane_fill: torch.Tensor,
    max_shift: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Translate each (input, target) pair by the same random offset.

    Args:
        planes: (N, C, H, W) G-buffer channels.
        targets: (N, 3, H, W) target images (any dtype).
        plane_fill: (C,) background value of each input channel.
        max_shift: largest offset in pixels along each axis (0 disables the augmentation).
        generator: random generator (seeded per rank for reproducible runs).

    Returns:
        The shifted planes and targets, same shapes and dtypes.
    """
    if max_shift <= 0:
        return planes, targets
    offsets = torch.randint(-max_shift, max_shift + 1, (planes.shape[0], 2), generator=generator)
    fills = border_colour(targets)
    out_planes, out_targets = torch.empty_like(planes), torch.empty_like(targets)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out_planes[i] = _shift(planes[i], dy, dx, plane_fill)
        out_targets[i] = _shift(targets[i], dy, dx, fills[i].round() if not targets.is_floating_point() else fills[i])
    return out_planes, out_targets


__all__ = ["random_shift", "border_colour"]
