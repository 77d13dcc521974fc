"""Typed contracts passed between the pipeline stages.

One frame flows one way: ``BodyParams`` → body model → ``Mesh`` → rasterizer (with a ``Camera``)
→ ``GBuffer`` → generator runtime → ``Frame``. Every array here is a NumPy array on the host with
the shape and dtype stated in the docstring; the GPU path (interop) keeps its own device-side
counterparts inside ``smplpix_rt.runtime`` and never changes these.

World frame (all body models): metres, +Y up, the body faces +Z, its left side is +X.
Images: row 0 is the top row, column 0 the left column (OpenCV / PIL order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class BodySpec:
    """What a body model exposes: names, hierarchy and parameter ranges.

    Attributes:
        name: body model identifier, e.g. ``"anny"`` or ``"smplx"``.
        version: version string of the body model data (recorded in generator manifests).
        joint_names: J joint (bone) names; index 0 is the root.
        joint_parents: (J,) int parent index per joint, -1 for the root.
        shape_names: S shape parameter names.
        shape_ranges: (S, 2) float32 [min, max] of each shape parameter.
        shape_defaults: (S,) float32 neutral value of each shape parameter.
        expression_names: E expression parameter names.
        expression_ranges: (E, 2) float32 [min, max] of each expression parameter.
        pose_limits_deg: (J, 3, 2) float32 suggested [min, max] of each axis-angle component in
            degrees (used by sliders and random pose sampling; not enforced by ``forward``).
    """

    name: str
    version: str
    joint_names: tuple[str, ...]
    joint_parents: np.ndarray
    shape_names: tuple[str, ...]
    shape_ranges: np.ndarray
    shape_defaults: np.ndarray
    expression_names: tuple[str, ...]
    expression_ranges: np.ndarray
    pose_limits_deg: np.ndarray

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_shape(self) -> int:
        return len(self.shape_names)

    @property
    def num_expression(self) -> int:
        return len(self.expression_names)


@dataclass(frozen=True)
class BodyParams:
    """One body configuration.

    Attributes:
        pose: (J, 3) float32 axis-angle per joint in radians. Row 0 is the global orientation of
            the root in the world frame; every other row rotates a joint relative to its parent,
            about axes aligned with the world frame at the rest pose (see the body model's docs).
        shape: (S,) float32 shape parameters (Anny: phenotypes in [0, 1]; SMPL-X: betas).
        expression: (E,) float32 expression parameters (Anny: facial actions; SMPL-X: psi).
        translation: (3,) float32 world translation of the root, metres.
    """

    pose: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))

    def replace(self, **changes: np.ndarray) -> BodyParams:
        """A copy with some fields replaced (arrays are converted to float32)."""
        values = {k: getattr(self, k) for k in ("pose", "shape", "expression", "translation")}
        values.update({k: np.asarray(v, np.float32) for k, v in changes.items()})
        return BodyParams(**values)


@dataclass(frozen=True, eq=False)
class MeshTopology:
    """The per-model constant part of a render mesh; uploaded to the GPU once.

    Attributes:
        faces: (F, 3) int32 triangle indices into the render vertices, counter-clockwise seen
            from outside.
        rest_coords: (V, 3) float32 surface coordinates of each render vertex on the model's
            canonical (mean shape, rest pose) body, scaled into [-1, 1]. A stable, seam-free
            "where on the body" code used by the default neural encoding.
        uv: (V, 2) float32 texture coordinates in [0, 1] (v up), or None if the model has none.
        vertex_colors: (V, 3) float32 fixed per-vertex colours in [0, 1] for the
            SMPLpix-compatible encoding, or None (a colour code is then derived from rest_coords).
        closed: the faces bound closed, consistently oriented surfaces (every edge of the
            model's mesh, before any splitting of seams, is shared by exactly two faces that
            run along it in opposite directions; see
            :func:`smplpix_rt.body.skinning.is_closed_surface`). Seen from outside, such a
            surface always shows its front faces, so the rasterizer may skip back faces.
    """

    faces: np.ndarray
    rest_coords: np.ndarray
    uv: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    closed: bool = False

    @property
    def num_vertices(self) -> int:
        return int(self.rest_coords.shape[0])


@dataclass(frozen=True, eq=False)
class Mesh:
    """A posed body ready to rasterize.

    Attributes:
        vertices: (V, 3) float32 positions in the world frame, metres.
        normals: (V, 3) float32 unit vertex normals in the world frame.
        topology: the model's constant :class:`MeshTopology` (shared between frames).
    """

    vertices: np.ndarray
    normals: np.ndarray
    topology: MeshTopology


@dataclass(frozen=True)
class GBuffer:
    """The rasterizer's output: the generator's input encoding for one view.

    Attributes:
        encoding: name of the encoding (see ``smplpix_rt.raster.encodings``).
        planes: one (H, W, 4) float32 array per render target, row 0 at the top.
            The generator takes them as inputs ``gbuffer0``, ``gbuffer1``, ... unchanged.
        mask: (H, W) bool, True where the body covers the pixel.
    """

    encoding: str
    planes: tuple[np.ndarray, ...]
    mask: np.ndarray

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])


@dataclass(frozen=True)
class StageTimings:
    """Wall-clock milliseconds spent in each stage for one frame."""

    body_ms: float = 0.0
    raster_ms: float = 0.0
    generator_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True)
class Frame:
    """A finished avatar image.

    Attributes:
        image: (H, W, 3) uint8 RGB, row 0 at the top.
        timings: per-stage timings of this frame.
    """

    image: np.ndarray
    timings: StageTimings = StageTimings()


__all__ = [
    "BodySpec",
    "BodyParams",
    "MeshTopology",
    "Mesh",
    "GBuffer",
    "StageTimings",
    "Frame",
]
