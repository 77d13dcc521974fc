"""Render the model card's pictures of a trained avatar.

    python scripts/make_model_card_images.py --data runs/synth256 --run runs/default_pixnet24 \
        [--model models/default.onnx] [--out docs]

Writes into ``--out``:

- ``train_default_render.png``: four frames of the built-in demo motion seen from four yaws;
- ``train_default_samples.png``: held-out test frames, one row each: input code | prediction | target;
- ``train_default_curves.png``: the run's training curves (a copy of ``<run>/curves.png``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from smplpix_rt.body.sequence import demo_motion
from smplpix_rt.camera import framing_orbit
from smplpix_rt.pipeline import Pipeline, PipelineConfig
from smplpix_rt.runtime.loader import load_runtime
from smplpix_rt.train.datasets import load_split
from smplpix_rt.train.report import input_preview, sample_grid


def render_views(model: Path | None, size: int) -> np.ndarray:
    """Demo-motion frames at four times and yaws, side by side: (size, 4 * size, 3) uint8."""
    with Pipeline.open(PipelineConfig(model=model, width=size, height=size)) as pipeline:
        body = pipeline.body
        base = body.default_params()
        motion = demo_motion(body, 120, 30.0)
        frames = []
        for k, yaw in enumerate((-35.0, 20.0, 60.0, 150.0)):
            params = motion.params_at(k * 0.8, base)
            orbit = framing_orbit(body.forward(params).vertices, yaw_deg=yaw)
            frames.append(pipeline.render(params, orbit.camera(size, size)).image)
    return np.concatenate(frames, axis=1)


def test_samples(model: Path | None, data: Path, indices: list[int]) -> np.ndarray:
    """Rows of input code | prediction | target for test frames ``indices``."""
    split = load_split(data, "test", limit=max(indices) + 1, progress=False)
    runtime = load_runtime(model if model is not None else _default_model(), backend="onnxruntime")
    try:
        predictions = [runtime.infer(split.planes_of(i)) for i in indices]
    finally:
        runtime.release()
    picked = torch.tensor(indices)
    previews = input_preview(split.planes[picked], split.encoding)
    outputs = torch.from_numpy(np.stack(predictions)).permute(0, 3, 1, 2).float()  # already in [0, 1]
    targets = split.targets[picked].float() / 255.0
    return sample_grid(previews, outputs, targets)


def _default_model() -> Path:
    from smplpix_rt.pipeline import default_model_path

    return default_model_path()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="generator file (default: the shipped avatar)")
    parser.add_argument("--data", type=Path, required=True, help="the dataset the avatar was trained on")
    parser.add_argument("--run", type=Path, default=None, help="the training run (for its curves)")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--test-frames", type=int, nargs="+", default=[0, 61, 122, 183])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render_views(args.model, args.size)).save(args.out / "train_default_render.png", optimize=True)
    grid = test_samples(args.model, args.data, args.test_frames)
    Image.fromarray(grid).save(args.out / "train_default_samples.png", optimize=True)
    if args.run is not None:
        shutil.copyfile(args.run / "curves.png", args.out / "train_default_curves.png")
    print(f"wrote the model card's images to {args.out}")


if __name__ == "__main__":
    main()
