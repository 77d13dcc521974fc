"""The viewport: GL drawing of the view modes, and mouse → orbit-camera mapping.

:class:`ViewportRenderer` owns every GL object the views need in the window's context: an
:class:`ImageBlitter` with the uploaded neural frame, a :class:`GBufferRenderer` with the
``"shaded"`` encoding for the mesh views, and textures with the uploaded G-buffer planes. It draws
the selected view into a rectangle of the current framebuffer, or into an off-screen target of a
fixed size for recordings and screenshots. The mesh and G-buffer views show the same frame as the
neural image (prepared on first use).

The camera functions at the bottom are pure: they map mouse drags and wheel steps to a new
:class:`OrbitCamera` and are shared by the viewport input handler and the tests.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import moderngl
import numpy as np

from smplpix_rt.camera import Camera, OrbitCamera
from smplpix_rt.contracts import GBuffer, Mesh
from smplpix_rt.raster import ChannelMode, GBufferRenderer, ImageBlitter, ImageMode, OverlayMode

from .state import ViewMode, ViewSettings

Rect = tuple[int, int, int, int]  # x, y (bottom-left, GL convention), width, height

BACKGROUND = (0.06, 0.06, 0.07)
#: Colour behind the docked panels (ImGui's dark-style window background, opaque).
PANEL_BACKGROUND = (0.06, 0.06, 0.06)
_CHANNELS = {"rgb": (0, 1, 2), "r": (0, 0, 0), "g": (1, 1, 1), "b": (2, 2, 2), "a": (3, 3, 3)}
_STAMPS = itertools.count(1)


def collect_gl_garbage(ctx: moderngl.Context) -> int:
    """Free the GL objects of wrappers that died unreleased; call on the context's own thread.

    Contexts set to ``gc_mode = "context_gc"`` queue such objects (moderngl makes one per
    ``ctx.scope()`` call, which would otherwise stay allocated for the life of the context).
    ``ctx.gc()`` cannot be used: moderngl also queues the placeholders of objects released
    explicitly before their wrapper died, and those have no ``release``.

    Returns:
        How many objects were freed.
    """
    objects, count = ctx.objects, 0
    while objects:
        release = getattr(objects.popleft(), "release", None)
        if release is not None:
            release()
            count += 1
    return count


def fit_rect(image_width: int, image_height: int, rect: Rect) -> Rect:
    """The largest rectangle of the image's aspect ratio centred in ``rect`` (letterboxing)."""
    x, y, width, height = rect
    scale = min(width / image_width, height / image_height)
    w, h = max(1, int(image_width * scale)), max(1, int(image_height * scale))
    return x + (width - w) // 2, y + (height - h) // 2, w, h


def split_rect(rect: Rect) -> tuple[Rect, Rect]:
    """The left and right halves of ``rect``."""
    x, y, width, height = rect
    half = max(1, width // 2)
    return (x, y, half, height), (x + half, y, max(1, width - half), height)


def whole_zoom_rect(image_width: int, image_height: int, rect: Rect) -> Rect:
    """The image zoomed by the largest whole number that fits, centred in ``rect``; :func:`fit_rect`
    when even the image's own size does not fit."""
    x, y, width, height = rect
    zoom = min(width // image_width, height // image_height)
    if zoom < 1:
        return fit_rect(image_width, image_height, rect)
    w, h = image_width * zoom, image_height * zoom
    return x + (width - w) // 2, y + (height - h) // 2, w, h


def image_rects(view: ViewSettings, image_size: tuple[int, int], rect: Rect) -> list[Rect]:
    """Where a view draws images inside ``rect``: the letterboxed image, or two side by side.

    Works in any units and with either vertical direction (the rectangles are centred, so the same
    layout in window units, y down, and in GL pixels, y up, can round to rows one apart).
    """
    place = whole_zoom_rect if view.whole_pixels else fit_rect
    areas = split_rect(rect) if view.mode is ViewMode.SIDE_BY_SIDE else (rect,)
    return [place(*image_size, area) for area in areas]


def display_range(names: tuple[str, ...], channels: str) -> tuple[float, float]:
    """(scale, offset) that maps the chosen G-buffer channels into [0, 1] for display.

    Args:
        names: the four channel names of the render target.
        channels: ``"rgb"`` or one of ``"r"``, ``"g"``, ``"b"``, ``"a"``.

    Coordinates, normals and depth span about [-1, 1]; masks and colours are already in [0, 1].
    """
    picked = names[:3] if channels == "rgb" else (names["rgba".index(channels)],)
    signed = any(n.startswith(("rest", "normal", "depth")) for n in picked)
    return (0.5, 0.5) if signed else (1.0, 0.0)


class ViewportRenderer:
    """Draws the viewer's view modes from the newest rendered frame.

    Args:
        ctx: the window's moderngl context (owns every object created here).
        width, height: size of the generator's images.
        gbuffer_targets: channel names of each G-buffer render target (for the G-buffer view).
    """

    def __init__(self, ctx: moderngl.Context, width: int, height: int, gbuffer_targets: tuple) -> None:
        self.ctx = ctx
        self.image_size = (width, height)
        self._targets = gbuffer_targets
        self._blitter = ImageBlitter(ctx)
        self._mesh = GBufferRenderer(ctx, width, height, encoding="shaded")
        self._planes: list[moderngl.Texture] = []
        self._neural: moderngl.Texture | None = None
        self._frame: tuple[Mesh, Camera, GBuffer] | None = None
        self._mesh_stale = self._planes_stale = False
        self._has_mesh = False
        self._offscreen: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        #: Changes (unique across all viewports) whenever the frame shown changes.
        self.content_stamp = next(_STAMPS)

    def set_frame(self, image: np.ndarray, mesh: Mesh, camera: Camera, gbuffer: GBuffer) -> None:
        """Show a finished frame: the neural image now, its mesh and G-buffer when a view needs them."""
        self._neural = self._blitter.upload_image(image, slot="neural")
        self._frame = (mesh, camera, gbuffer)
        self._mesh_stale = self._planes_stale = True
        self.content_stamp = next(_STAMPS)

    def draw(self, view: ViewSettings, rect: Rect) -> None:
        """Draw the view selected in ``view`` into ``rect`` of the current framebuffer (aspect-correct)."""
        targets = image_rects(view, self.image_size, rect)
        smooth = not view.whole_pixels
        if view.mode is ViewMode.SIDE_BY_SIDE:
            self._draw_mesh(targets[0], smooth)
            self._draw_neural(targets[1], smooth)
            return
        target = targets[0]
        if view.mode is ViewMode.MESH:
            self._draw_mesh(target, smooth)
        elif view.mode is ViewMode.GBUFFER:
            self._draw_gbuffer(view, target)
        elif view.mode is ViewMode.OVERLAY and self._neural is not None and self._prepare_mesh():
            mode = OverlayMode(self._mesh.textures[0], float(np.clip(view.overlay_opacity, 0.0, 1.0)))
            self._blitter.draw(self._neural, target, mode, smooth=smooth)
        else:
            self._draw_neural(target, smooth)

    def render_image(self, view: ViewSettings, width: int, height: int) -> np.ndarray:
        """The view drawn off-screen at a fixed size: (height, width, 3) uint8, row 0 at the top."""
        texture, framebuffer = self._offscreen_target(width, height)
        previous = self.ctx.fbo
        try:
            framebuffer.use()
            framebuffer.clear(*BACKGROUND, 1.0)
            self.draw(view, (0, 0, width, height))
            data = framebuffer.read(components=3, alignment=1)
        finally:
            if previous is not None:  # a headless context may have no framebuffer bound before
                previous.use()
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1].copy()

    def release(self) -> None:
        """Free the blitter, the mesh renderer, the G-buffer textures and the off-screen target. Idempotent."""
        if self._offscreen is not None:
            for obj in reversed(self._offscreen):
                obj.release()
            self._offscreen = None
        for texture in self._planes:
            texture.release()
        self._planes = []
        self._blitter.release()
        self._mesh.release()
        self._neural = self._frame = None

    def _offscreen_target(self, width: int, height: int) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        if self._offscreen is not None and self._offscreen[0].size == (width, height):
            return self._offscreen
        if self._offscreen is not None:
            for obj in reversed(self._offscreen):
                obj.release()
        texture = self.ctx.texture((width, height), 3)
        self._offscreen = (texture, self.ctx.framebuffer(color_attachments=[texture]))
        return self._offscreen

    def _prepare_mesh(self) -> bool:
        """Rasterize the shaded preview of the frame's mesh if it is not yet; False if there is none."""
        if self._mesh_stale and self._frame is not None:
            mesh, camera, _ = self._frame
            self._mesh.draw(mesh, camera)
            self._mesh_stale, self._has_mesh = False, True
        return self._has_mesh

    def _prepare_planes(self) -> list[moderngl.Texture]:
        """Upload the frame's G-buffer planes (RGBA float, rows top-first) if they are not yet."""
        if self._planes_stale and self._frame is not None:
            planes = self._frame[2].planes
            if len(self._planes) != len(planes) or self._planes[0].size != planes[0].shape[1::-1]:
                for texture in self._planes:
                    texture.release()
                self._planes = [self.ctx.texture(p.shape[1::-1], 4, dtype="f4") for p in planes]
            for texture, plane in zip(self._planes, planes, strict=True):
                texture.write(np.ascontiguousarray(plane, np.float32))
            self._planes_stale = False
        return self._planes

    def _draw_neural(self, rect: Rect, smooth: bool) -> None:
        if self._neural is not None:
            self._blitter.draw(self._neural, rect, ImageMode(), smooth=smooth)

    def _draw_mesh(self, rect: Rect, smooth: bool) -> None:
        if self._prepare_mesh():
            self._blitter.draw(self._mesh.textures[0], rect, ImageMode(), smooth=smooth)

    def _draw_gbuffer(self, view: ViewSettings, rect: Rect) -> None:
        textures = self._prepare_planes()
        if not textures:
            return
        index = min(max(view.gbuffer_plane, 0), len(textures) - 1)
        scale, offset = view.gbuffer_scale, view.gbuffer_offset
        if scale is None or offset is None:
            scale, offset = display_range(self._targets[index], view.gbuffer_channels)
        mode = ChannelMode(_CHANNELS.get(view.gbuffer_channels, (0, 1, 2)), scale, offset)
        self._blitter.draw(textures[index], rect, mode, smooth=False)


# ------------------------------------------------------------------------------ camera input

#: Degrees of orbit per pixel of drag.
ORBIT_DEG_PER_PIXEL = 0.4
#: Distance factor per wheel step (zoom in for positive steps).
ZOOM_PER_STEP = 0.9
DISTANCE_RANGE = (0.2, 50.0)


def orbit_drag(camera: OrbitCamera, dx: float, dy: float) -> OrbitCamera:
    """Left-drag: turn the camera around its target (drag right → the body turns right)."""
    yaw = (camera.yaw_deg - dx * ORBIT_DEG_PER_PIXEL + 180.0) % 360.0 - 180.0
    pitch = float(np.clip(camera.pitch_deg + dy * ORBIT_DEG_PER_PIXEL, -89.0, 89.0))
    return dataclasses.replace(camera, yaw_deg=yaw, pitch_deg=pitch)


def pan_drag(camera: OrbitCamera, dx: float, dy: float, view_height_px: float) -> OrbitCamera:
    """Right/middle-drag: move the view so that the body follows the mouse."""
    metres_per_pixel = 2.0 * camera.distance * math.tan(math.radians(camera.fov_y_deg) / 2) / max(view_height_px, 1)
    pan = (camera.pan[0] - dx * metres_per_pixel, camera.pan[1] + dy * metres_per_pixel)
    return dataclasses.replace(camera, pan=pan)


def wheel_zoom(camera: OrbitCamera, steps: float) -> OrbitCamera:
    """Mouse wheel: move closer (positive steps) or further away."""
    distance = float(np.clip(camera.distance * ZOOM_PER_STEP**steps, *DISTANCE_RANGE))
    return dataclasses.replace(camera, distance=distance)


__all__ = [
    "BACKGROUND",
    "PANEL_BACKGROUND",
    "Rect",
    "ViewportRenderer",
    "collect_gl_garbage",
    "display_range",
    "fit_rect",
    "image_rects",
    "whole_zoom_rect",
    "orbit_drag",
    "pan_drag",
    "split_rect",
    "wheel_zoom",
]
