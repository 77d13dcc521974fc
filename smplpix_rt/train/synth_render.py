"""The synthetic avatar's reference appearance: an OpenGL renderer richer than any G-buffer.

:class:`SynthRenderer` draws a posed body with procedural clothing and skin (chosen per vertex by
a body-part label, patterned in rest-pose coordinates and UV space), a camera-attached key light
with a soft shadow map, a hemisphere fill darkened by ambient occlusion baked on the rest pose, a
rim light and specular highlights. Images are rendered at ``supersample`` times the output size
and box-filtered down, so edges are anti-aliased like a photograph's.

All lights are fixed relative to the camera, so the image is a deterministic function of what the
G-buffer encodes (surface position on the body, camera-space normals, depth): a generator can
learn it exactly from G-buffers.

GLSL: ``shaders/synth_appearance.glsl`` and ``shaders/synth_shadow.glsl``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import moderngl
import numpy as np

from smplpix_rt.camera import Camera
from smplpix_rt.contracts import Mesh, MeshTopology
from smplpix_rt.errors import InputError, SmplpixError
from smplpix_rt.raster.programs import build_program

#: Material of each part label (index = label), see ``shaders/synth_appearance.glsl``.
PART_NAMES = ("skin", "shirt", "trousers", "shoes", "hair")


@dataclass(frozen=True)
class SynthLighting:
    """Lights of the reference appearance, in OpenCV camera axes (x right, y down, z forward).

    Attributes:
        key_direction: (3,) direction the key light travels (it casts the soft shadows).
        rim_direction: (3,) direction the rim light travels (from behind the body).
        background: (3,) RGB in [0, 1] of pixels the body does not cover.
    """

    key_direction: tuple[float, float, float] = (0.45, 0.55, 0.70)
    rim_direction: tuple[float, float, float] = (-0.55, 0.15, -0.82)
    background: tuple[float, float, float] = (0.86, 0.87, 0.89)


@dataclass(frozen=True)
class GarmentLayout:
    """Where the garment details sit, in rest coordinates (``MeshTopology.rest_coords`` units).

    Attributes:
        belt_y: (bottom, top) of the belt band.
        cuff_y: (bottom, top) of the trouser cuffs.
        sole_y: shoe soles are below this height.
        emblem: (x, y, radius) of the chest emblem on the front of the shirt.
        stripe_period: height of one shirt stripe period.
        face_y: the cheeks' warmer tone starts above this height.
    """

    belt_y: tuple[float, float]
    cuff_y: tuple[float, float]
    sole_y: float
    emblem: tuple[float, float, float]
    stripe_period: float
    face_y: float


def garment_layout(rest_coords: np.ndarray, parts: np.ndarray) -> GarmentLayout:
    """Place the garment details from the extent of each part on the rest body.

    Args:
        rest_coords: (V, 3) rest coordinates (+y up, front +z).
        parts: (V,) part labels (see :data:`PART_NAMES`).

    Raises:
        InputError: a part the layout needs (shirt, trousers, shoes, skin) has no vertex.
    """
    y = rest_coords[:, 1]

    def extent(name: str) -> tuple[float, float]:
        sel = parts == PART_NAMES.index(name)
        if not sel.any():
            raise InputError(f"the part segmentation has no {name} vertices")
        return float(y[sel].min()), float(y[sel].max())

    shirt, trousers, shoes = extent("shirt"), extent("trousers"), extent("shoes")
    body_min, body_max = float(y.min()), float(y.max())
    height = body_max - body_min
    belt_top = trousers[1] - 0.01 * height
    cuff_bottom = trousers[0] + 0.005 * height
    chest = shirt[0] + 0.72 * (shirt[1] - shirt[0])
    return GarmentLayout(
        belt_y=(belt_top - 0.025 * height, belt_top),
        cuff_y=(cuff_bottom, cuff_bottom + 0.03 * height),
        sole_y=shoes[0] + 0.012 * height,
        emblem=(0.055 * height, chest, 0.028 * height),
        stripe_period=0.055 * height,
        face_y=body_max - 0.09 * height,
    )


def _unit(v: tuple[float, float, float]) -> np.ndarray:
    a = np.asarray(v, np.float64)
    return a / np.linalg.norm(a)


def light_view_projection(vertices: np.ndarray, direction: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """Orthographic world-to-clip transform of a directional light that frames ``vertices``.

    Args:
        vertices: (V, 3) world positions to fit.
        direction: (3,) world direction the light travels.
        margin: extra room around the bounds, metres.

    Returns:
        (4, 4) float64 matrix; clip z grows along ``direction`` (nearer the light = smaller depth).
    """
    forward = _unit(direction)
    helper = np.array([0.0, 1.0, 0.0]) if abs(forward[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    right = np.cross(helper, forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    basis = np.stack([right, up, forward])
    local = vertices.astype(np.float64) @ basis.T
    lo, hi = local.min(0) - margin, local.max(0) + margin
    half = max(hi[0] - lo[0], hi[1] - lo[1]) / 2  # square texels
    centre = (lo + hi) / 2
    scale = np.diag([1 / half, 1 / half, 2 / (hi[2] - lo[2]), 1.0])
    shift = np.eye(4)
    shift[:3, 3] = [-centre[0], -centre[1], -centre[2]]
    rotation = np.eye(4)
    rotation[:3, :3] = basis
    return scale @ shift @ rotation


def _write_matrix(program: moderngl.Program, name: str, matrix: np.ndarray) -> None:
    program[name].write(np.ascontiguousarray(np.asarray(matrix).T, dtype=np.float32).tobytes())


class SynthRenderer:
    """Renders the reference appearance of one body topology (see module docs).

    The renderer owns every GL object it creates (programs, buffers, textures, framebuffers) and
    frees them in :meth:`release`.

    Args:
        ctx: the moderngl context that owns the objects.
        width, height: output image size in pixels.
        topology: the body's constant mesh topology (``uv`` is used when present).
        parts: (V,) int part label per render vertex, indices into :data:`PART_NAMES`.
        supersample: render at this multiple of the output size, then box-filter down.
        shadow_size: side of the key light's shadow map in texels.
        lighting: light directions and background colour.
        layout: garment detail positions; None derives them with :func:`garment_layout`.

    Raises:
        InputError: wrong ``parts`` shape or labels, or a non-positive size.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        width: int,
        height: int,
        topology: MeshTopology,
        parts: np.ndarray,
        *,
        supersample: int = 2,
        shadow_size: int = 1024,
        lighting: SynthLighting = SynthLighting(),
        layout: GarmentLayout | None = None,
    ) -> None:
        if width < 1 or height < 1 or supersample < 1:
            raise InputError(f"synthetic render size must be positive, got {width}x{height} x{supersample}")
        parts = np.asarray(parts)
        if parts.shape != (topology.num_vertices,) or parts.min() < 0 or parts.max() >= len(PART_NAMES):
            raise InputError(f"parts must be ({topology.num_vertices},) labels in [0, {len(PART_NAMES) - 1}]")
        self._ctx = ctx
        self.width, self.height, self.supersample = int(width), int(height), int(supersample)
        self.topology = topology
        self.lighting = lighting
        self.layout = layout or garment_layout(np.asarray(topology.rest_coords, np.float32), parts)
        self._objects: list = []
        self._released = False
        try:
            self._build(topology, parts, shadow_size)
        except BaseException:
            self.release()
            raise

    def _own(self, obj):
        self._objects.append(obj)
        return obj

    def _build(self, topology: MeshTopology, parts: np.ndarray, shadow_size: int) -> None:
        ctx, n = self._ctx, topology.num_vertices
        rest = np.asarray(topology.rest_coords, np.float32)
        uv = np.asarray(topology.uv, np.float32) if topology.uv is not None else (rest[:, :2] + 1) / 2
        self._static_host = np.concatenate(
            [rest, uv, parts.astype(np.float32)[:, None], np.ones((n, 1), np.float32)], axis=1
        )
        self._program = self._own(build_program(ctx, "synth_appearance.glsl"))
        self._depth_program = self._own(build_program(ctx, "synth_shadow.glsl"))
        self._static = self._own(ctx.buffer(self._static_host.tobytes()))
        self._indices = self._own(ctx.buffer(np.ascontiguousarray(topology.faces, np.uint32).tobytes()))
        self._positions = self._own(ctx.buffer(reserve=n * 12, dynamic=True))
        self._normals = self._own(ctx.buffer(reserve=n * 12, dynamic=True))
        self._vao = self._own(
            ctx.vertex_array(
                self._program,
                [
                    (self._static, "3f 2f 1f 1f", "in_rest", "in_uv", "in_part", "in_ao"),
                    (self._positions, "3f", "in_position"),
                    (self._normals, "3f", "in_normal"),
                ],
                index_buffer=self._indices,
            )
        )
        self._depth_vao = self._own(
            ctx.vertex_array(self._depth_program, [(self._positions, "3f", "in_position")], index_buffer=self._indices)
        )
        self._shadow_map = self._own(ctx.depth_texture((shadow_size, shadow_size)))
        self._shadow_map.compare_func = "<="
        self._shadow_map.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._shadow_map.repeat_x = self._shadow_map.repeat_y = False
        self._shadow_fbo = self._own(ctx.framebuffer(depth_attachment=self._shadow_map))
        size = (self.width * self.supersample, self.height * self.supersample)
        self._color = self._own(ctx.texture(size, 4, dtype="f2"))
        self._depth = self._own(ctx.depth_renderbuffer(size))
        self._fbo = self._own(ctx.framebuffer(color_attachments=[self._color], depth_attachment=self._depth))

    # --------------------------------------------------------------------------------- drawing

    def _check(self) -> None:
        if self._released:
            raise SmplpixError("this SynthRenderer has been released; create a new one")

    def _upload(self, mesh: Mesh) -> np.ndarray:
        if mesh.topology is not self.topology and mesh.topology.num_vertices != self.topology.num_vertices:
            raise InputError("mesh topology differs from the one this SynthRenderer was built for")
        vertices = np.ascontiguousarray(mesh.vertices, np.float32)
        self._positions.write(vertices)
        self._normals.write(np.ascontiguousarray(mesh.normals, np.float32))
        return vertices

    def _depth_pass(self, fbo: moderngl.Framebuffer, light_mvp: np.ndarray) -> None:
        _write_matrix(self._depth_program, "u_light_mvp", light_mvp)
        with self._ctx.scope(fbo, enable_only=moderngl.DEPTH_TEST):
            self._ctx.depth_func = "<"
            fbo.clear(depth=1.0)
            self._depth_vao.render(moderngl.TRIANGLES)

    def render(self, mesh: Mesh, camera: Camera) -> np.ndarray:
        """The reference image of ``mesh`` seen by ``camera``.

        Args:
            mesh: posed body (V, 3) float32 vertices and normals, world frame.
            camera: the view; its size must equal the renderer's output size.

        Returns:
            (H, W, 3) uint8 RGB, row 0 at the top.
        """
        self._check()
        if (camera.width, camera.height) != (self.width, self.height):
            raise InputError(f"camera is {camera.width}x{camera.height}, the renderer {self.width}x{self.height}")
        vertices = self._upload(mesh)
        key_cam, rim_cam = _unit(self.lighting.key_direction), _unit(self.lighting.rim_direction)
        light_mvp = light_view_projection(vertices, camera.rotation.T @ key_cam)
        self._depth_pass(self._shadow_fbo, light_mvp)

        big = camera.resized(self.width * self.supersample, self.height * self.supersample)
        program = self._program
        _write_matrix(program, "u_mvp", big.gl_mvp())
        _write_matrix(program, "u_view", big.view())
        _write_matrix(program, "u_light_mvp", light_mvp)
        program["u_key_dir"].value = tuple(key_cam)
        program["u_rim_dir"].value = tuple(rim_cam)
        program["u_shadow_texel"].value = (1.0 / self._shadow_map.width, 1.0 / self._shadow_map.height)
        program["u_shadow_map"].value = 0
        g = self.layout
        program["u_belt_y"].value = g.belt_y
        program["u_cuff_y"].value = g.cuff_y
        program["u_sole_y"].value = g.sole_y
        program["u_emblem"].value = (*g.emblem, g.stripe_period)
        program["u_face_y"].value = g.face_y
        self._shadow_map.use(location=0)
        with self._ctx.scope(self._fbo, enable_only=moderngl.DEPTH_TEST):
            self._ctx.depth_func = "<"
            self._fbo.clear(*self.lighting.background, 1.0, depth=1.0)
            self._vao.render(moderngl.TRIANGLES)
        s = self.supersample
        pixels = np.empty((big.height, big.width, 4), np.float32)
        self._fbo.read_into(pixels, components=4, attachment=0, dtype="f4")
        rgb = pixels[:, :, :3].reshape(self.height, s, self.width, s, 3).mean(axis=(1, 3))
        return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def bake_occlusion(self, mesh: Mesh, directions: int = 96, size: int = 512) -> np.ndarray:
        """Bake per-vertex ambient occlusion of ``mesh`` (usually the rest pose) and use it from now on.

        Visibility towards ``directions`` points of a Fibonacci sphere is tested against
        orthographic depth maps and cosine-weighted over each vertex's hemisphere.

        Args:
            mesh: the body to bake on.
            directions: number of sampled light directions.
            size: side of each depth map in texels.

        Returns:
            (V,) float32 ambient visibility in [0, 1] (1 = fully open).
        """
        self._check()
        vertices = self._upload(mesh).astype(np.float64)
        normals = np.asarray(mesh.normals, np.float64)
        depth_tex = self._ctx.depth_texture((size, size))
        fbo = self._ctx.framebuffer(depth_attachment=depth_tex)
        try:
            visible, weight = np.zeros(len(vertices)), np.zeros(len(vertices))
            for direction in _fibonacci_sphere(directions):
                mvp = light_view_projection(vertices, direction)
                self._depth_pass(fbo, mvp)
                depth = np.frombuffer(depth_tex.read(), np.float32).reshape(size, size)
                depth = _max_filter3(depth)
                clip = vertices @ mvp[:3, :3].T + mvp[:3, 3]
                px = np.clip(((clip[:, :2] * 0.5 + 0.5) * size).astype(int), 0, size - 1)
                z = clip[:, 2] * 0.5 + 0.5
                lit = z <= depth[px[:, 1], px[:, 0]] + 2e-3
                cosine = np.clip(normals @ -direction, 0.0, None)
                visible += cosine * lit
                weight += cosine
        finally:
            fbo.release()
            depth_tex.release()
        ao = (visible / np.maximum(weight, 1e-6)).astype(np.float32)
        self._static_host[:, 6] = ao
        self._static.write(self._static_host.tobytes())
        return ao

    def release(self) -> None:
        """Free every GL object. Idempotent."""
        if self._released:
            return
        self._released = True
        for obj in reversed(self._objects):
            obj.release()
        self._objects.clear()

    def __enter__(self) -> SynthRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _fibonacci_sphere(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the sphere."""
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    r = np.sqrt(1 - z * z)
    phi = i * math.pi * (3 - math.sqrt(5))
    return np.stack([r * np.cos(phi), z, r * np.sin(phi)], 1)


def _max_filter3(a: np.ndarray) -> np.ndarray:
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    return np.max([p[i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0)


__all__ = ["PART_NAMES", "GarmentLayout", "garment_layout", "SynthLighting", "SynthRenderer", "light_view_projection"]
