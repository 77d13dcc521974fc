"""PSNR / SSIM values a user can check by hand, and the augmentation's consistency."""

from __future__ import annotations

import math

import pytest
import torch

from smplpix_rt.train.augment import random_shift
from smplpix_rt.train.metrics import psnr, ssim


def test_psnr_of_known_error():
    target = torch.zeros(2, 3, 16, 16)
    prediction = target + 0.1  # MSE 0.01 -> 20 dB
    assert psnr(prediction, target) == pytest.approx(torch.tensor([20.0, 20.0]), abs=1e-4)
    assert float(psnr(target, target)[0]) == 100.0


def test_ssim_of_constant_images_matches_the_closed_form():
    a, b = 0.3, 0.5  # no variance: SSIM = luminance term only
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    value = ssim(torch.full((1, 3, 32, 32), a), torch.full((1, 3, 32, 32), b))
    assert float(value) == pytest.approx(expected, abs=1e-5)


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 48, 48, generator=generator)
    noise = torch.randn(image.shape, generator=generator)
    noisy, noisier = (image + 0.2 * noise).clamp(0, 1), (image + 0.4 * noise).clamp(0, 1)
    assert float(ssim(image, image)) == pytest.approx(1.0, abs=1e-5)
    assert float(ssim(noisier, image)) < float(ssim(noisy, image)) < 0.9
    assert float(ssim(noisy, image)) == pytest.approx(float(ssim(image, noisy)), abs=1e-6)


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        psnr(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 8))


def test_shift_moves_input_and_target_by_the_same_offset():
    planes = torch.zeros(4, 4, 32, 32, dtype=torch.float16)
    targets = torch.full((4, 3, 32, 32), 200, dtype=torch.uint8)
    planes[:, 0, 10, 12] = 1.0  # one marked pixel in each input ...
    targets[:, :, 10, 12] = 7  # ... and at the same place in each target
    fill = torch.tensor([0.0, 0.0, 0.0, 0.0], dtype=torch.float16)
    shifted_planes, shifted_targets = random_shift(planes, targets, fill, 5, torch.Generator().manual_seed(1))
    moved = 0
    for p, t in zip(shifted_planes, shifted_targets, strict=True):
        marked_input = (p[0] == 1.0).nonzero().tolist()
        marked_target = (t[0] == 7).nonzero().tolist()
        assert marked_input == marked_target and len(marked_input) == 1
        moved += marked_input[0] != [10, 12]
        assert int((t[0] == 200).sum()) == 32 * 32 - 1  # uncovered pixels take the border colour
    assert moved > 0


def test_lr_schedule_warms_up_and_decays():
    from smplpix_rt.train.trainer import TrainConfig, lr_factor

    config = TrainConfig(data="d", out="o", steps=100, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0.0, 0, config) == pytest.approx(0.1)
    assert lr_factor(0.1, 9, config) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.1)))
    assert lr_factor(1.0, 100, config) == pytest.approx(0.1)


def test_perceptual_loss_uses_local_weights_only(tmp_path):
    from safetensors.torch import save_file

    from smplpix_rt.errors import InputError, ModelFileError
    from smplpix_rt.train.perceptual import VGGPerceptualLoss

    with pytest.raises(InputError, match="never downloaded"):
        VGGPerceptualLoss(tmp_path / "vgg16.pth")
    torch.manual_seed(0)
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256)}
    state = {}
    for index, (cout, cin) in shapes.items():
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(cout)
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    loss = VGGPerceptualLoss(tmp_path / "vgg16.safetensors")
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert float(loss(a, a)) == 0.0 and float(loss(a, b)) > 0.0
    del state["features.14.weight"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ModelFileError, match="features.14.weight"):
        VGGPerceptualLoss(tmp_path / "partial.safetensors")
