"""Render the README's pictures with the project's own pipeline.

    python scripts/make_readme_images.py [--model models/default.onnx] [--out docs]

Writes ``docs/avatar_poses.png``: for a few poses and views, the shaded body, the neural G-buffer
(rest-surface code and normals) and the generator's output, one column each.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from smplpix_rt.body.poses import expression_preset, pose_preset
from smplpix_rt.camera import framing_orbit
from smplpix_rt.pipeline import Pipeline, PipelineConfig
from smplpix_rt.raster.renderer import GBufferRenderer


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    size = args.size
    with Pipeline.open(PipelineConfig(model=args.model, width=size, height=size)) as pipeline:
        body = pipeline.body
        base = body.default_params()
        orbit = framing_orbit(body.forward(base).vertices)
        shaded = GBufferRenderer(pipeline.renderer.ctx, size, size, encoding="shaded")
        views = [
            (base, 0.0),
            (base.replace(pose=pose_preset(body, "wave"), expression=expression_preset(body, "smile")), 25.0),
            (base.replace(pose=pose_preset(body, "walk")), -35.0),
            (base.replace(pose=pose_preset(body, "arms-crossed"), shape=[0.2, 0.5, 0.8, 0.7, 0.6, 0.5]), 160.0),
        ]
        rows = []
        for params, yaw in views:
            camera = dataclasses.replace(orbit, yaw_deg=yaw).camera(size, size)
            mesh = pipeline.pose(params)
            gbuffer = pipeline.rasterize(mesh, camera)
            mask = gbuffer.mask[..., None]
            rest = (gbuffer.planes[0][..., :3] * 0.5 + 0.5) * mask
            normals = (gbuffer.planes[1][..., :3] * np.array([0.5, -0.5, -0.5]) + 0.5) * mask
            preview = shaded.render(mesh, camera).planes[0][..., :3]
            rows.append(np.concatenate([_to_u8(preview), _to_u8(rest), _to_u8(normals), pipeline.generate(gbuffer)], 1))
        shaded.release()
    Image.fromarray(np.concatenate(rows, 0)).save(args.out / "avatar_poses.png", optimize=True)
    print(f"wrote {args.out / 'avatar_poses.png'}")


if __name__ == "__main__":
    main()
