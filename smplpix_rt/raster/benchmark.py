"""Rasterizer speed measurements (numbers for ``smplpix bench``; nothing here asserts a speed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from smplpix_rt.camera import Camera
from smplpix_rt.contracts import Mesh
from smplpix_rt.raster.renderer import GBufferRenderer


@dataclass(frozen=True)
class RasterTiming:
    """Median milliseconds per frame of one renderer configuration.

    Attributes:
        width, height: render size in pixels.
        encoding: encoding name.
        triangles: triangles drawn per frame.
        draw_ms: upload + draw, finished on the GPU (``ctx.finish``), nothing read back.
        render_ms: upload + draw + read-back of every target as float32 (``GBufferRenderer.render``).
    """

    width: int
    height: int
    encoding: str
    triangles: int
    draw_ms: float
    render_ms: float


def time_renderer(renderer: GBufferRenderer, mesh: Mesh, camera: Camera, frames: int = 30) -> RasterTiming:
    """Median draw and render times of ``renderer`` for ``mesh`` seen by ``camera``.

    Args:
        renderer: a renderer of the camera's size, set to the encoding to measure.
        mesh: the mesh drawn every frame (uploaded every frame, as in live use).
        camera: the view.
        frames: timed frames per measurement (after 3 warm-up frames).

    Returns:
        The medians.
    """
    for _ in range(3):
        renderer.render(mesh, camera)
    draw, render = [], []
    for _ in range(frames):
        start = time.perf_counter()
        renderer.draw(mesh, camera)
        renderer.ctx.finish()
        draw.append(time.perf_counter() - start)
    for _ in range(frames):
        start = time.perf_counter()
        renderer.render(mesh, camera)
        render.append(time.perf_counter() - start)
    return RasterTiming(
        width=renderer.width,
        height=renderer.height,
        encoding=renderer.encoding.name,
        triangles=int(mesh.topology.faces.shape[0]),
        draw_ms=float(np.median(draw) * 1e3),
        render_ms=float(np.median(render) * 1e3),
    )
