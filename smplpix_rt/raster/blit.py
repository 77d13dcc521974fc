"""Drawing textures into the current framebuffer: images, G-buffer channels, overlays.

Used by the desktop viewer to show generator output and G-buffer views; works in any moderngl
context (a GLFW window's or a headless one). Textures are expected to hold image rows top-first,
as :class:`~smplpix_rt.raster.renderer.GBufferRenderer` targets and :meth:`ImageBlitter.upload_image`
textures do.
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np

from smplpix_rt.errors import InputError, SmplpixError
from smplpix_rt.raster.programs import build_program

_SHADER = "blit.glsl"


@dataclass(frozen=True)
class ImageMode:
    """Show the texture's RGB as it is."""


@dataclass(frozen=True)
class ChannelMode:
    """Show three channels of a texture, scaled and shifted: ``out[i] = src[channels[i]] * scale[i] + offset[i]``.

    Attributes:
        channels: source component (0 = r ... 3 = a) shown as red, green and blue.
        scale: multiplier, one value or one per output channel.
        offset: added after scaling, one value or one per output channel.
            Example: camera-space normals in [-1, 1] → ``scale=0.5, offset=0.5``.
    """

    channels: tuple[int, int, int] = (0, 1, 2)
    scale: float | tuple[float, float, float] = 1.0
    offset: float | tuple[float, float, float] = 0.0


@dataclass(frozen=True)
class OverlayMode:
    """Blend ``overlay`` over the drawn texture by the overlay's alpha times ``opacity``.

    Attributes:
        overlay: texture of the same image (any size; sampled over the same viewport).
        opacity: in [0, 1]; 0 shows only the base texture.
    """

    overlay: moderngl.Texture
    opacity: float = 0.5


BlitMode = ImageMode | ChannelMode | OverlayMode

_DEFINES = {ImageMode: "MODE_IMAGE", ChannelMode: "MODE_CHANNELS", OverlayMode: "MODE_OVERLAY"}


class ImageBlitter:
    """Owns the fullscreen-triangle programs, samplers and upload textures for blitting.

    Args:
        ctx: the context that owns every object created here.
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        self._ctx = ctx
        self._released = False
        self._programs: dict[type, moderngl.Program] = {}
        self._vertex_arrays: dict[type, moderngl.VertexArray] = {}
        self._uploads: dict[str, moderngl.Texture] = {}
        try:
            for mode, define in _DEFINES.items():
                program = build_program(ctx, _SHADER, (define,))
                self._programs[mode] = program
                self._vertex_arrays[mode] = ctx.vertex_array(program, [])
            self._linear = ctx.sampler(filter=(moderngl.LINEAR, moderngl.LINEAR), repeat_x=False, repeat_y=False)
            self._nearest = ctx.sampler(filter=(moderngl.NEAREST, moderngl.NEAREST), repeat_x=False, repeat_y=False)
        except BaseException:
            self.release()
            raise

    def draw(
        self,
        texture: moderngl.Texture,
        viewport: tuple[int, int, int, int],
        mode: BlitMode = ImageMode(),
        *,
        flip_y: bool = True,
        smooth: bool = True,
    ) -> None:
        """Draw ``texture`` into the rectangle ``viewport`` of the currently bound framebuffer.

        Args:
            texture: source texture, rows top-first.
            viewport: ``(x, y, width, height)`` in framebuffer pixels, GL convention (x, y is the
                rectangle's bottom-left corner, y counted from the framebuffer's bottom).
            mode: :class:`ImageMode`, :class:`ChannelMode` or :class:`OverlayMode`.
            flip_y: True (default) puts image row 0 at the top of a normal GL framebuffer such as
                a window; False keeps texture row 0 at framebuffer row 0.
            smooth: bilinear filtering when the viewport scales the image, else nearest.

        Raises:
            InputError: empty viewport, invalid mode parameters, or no framebuffer bound.
        """
        self._check_alive()
        x, y, width, height = (int(v) for v in viewport)
        if width <= 0 or height <= 0:
            raise InputError(f"blit viewport must have a positive size, got {tuple(viewport)}")
        program = self._programs.get(type(mode))
        if program is None:
            raise InputError(f"unknown blit mode {mode!r}; use ImageMode, ChannelMode or OverlayMode")
        program["u_flip_y"].value = int(bool(flip_y))
        units = self._configure(program, mode)
        sampler = self._linear if smooth else self._nearest
        ctx, target = self._ctx, self._ctx.fbo
        if target is None:
            raise InputError("no framebuffer is bound: call framebuffer.use() (or ctx.screen.use()) before blitting")
        previous_viewport = target.viewport
        scope = ctx.scope(target, enable_only=moderngl.NOTHING)  # released below: it is a GL-side object
        with scope:
            try:
                target.viewport = (x, y, width, height)
                texture.use(0)
                sampler.use(0)
                if isinstance(mode, OverlayMode):
                    mode.overlay.use(1)
                    sampler.use(1)
                self._vertex_arrays[type(mode)].render(moderngl.TRIANGLES, vertices=3)
            finally:
                for unit in range(units):
                    sampler.clear(unit)
                target.viewport = previous_viewport
        scope.release()

    def upload_image(self, image: np.ndarray, slot: str = "image") -> moderngl.Texture:
        """Upload an RGB image into a texture owned by the blitter, reused while its size stays.

        Args:
            image: (H, W, 3) uint8, or (H, W, 3) float in [0, 1] (stored as float32), row 0 at the top.
            slot: name of the texture to (re)use; uploads into different slots do not overwrite each other.

        Returns:
            The texture (owned by the blitter: valid until the next upload of another size or
            dtype into the same slot, or :meth:`release`).

        Raises:
            InputError: not an (H, W, 3) uint8 or floating-point array.
        """
        self._check_alive()
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
            raise InputError(f"image to upload must have shape (H, W, 3), got {array.shape}")
        if array.dtype == np.uint8:
            dtype = "f1"
        elif np.issubdtype(array.dtype, np.floating):
            dtype, array = "f4", array.astype(np.float32, copy=False)
        else:
            raise InputError(f"image to upload must be uint8 or floating point, got {array.dtype}")
        size = (array.shape[1], array.shape[0])
        texture = self._uploads.get(slot)
        if texture is None or texture.size != size or texture.dtype != dtype:
            if texture is not None:
                texture.release()
            texture = self._ctx.texture(size, 3, dtype=dtype)
            self._uploads[slot] = texture
        texture.write(np.ascontiguousarray(array))
        return texture

    def release(self) -> None:
        """Free programs, samplers and uploaded textures. Idempotent."""
        if self._released:
            return
        self._released = True
        objects = [*self._vertex_arrays.values(), *self._programs.values(), *self._uploads.values()]
        objects += [getattr(self, name) for name in ("_linear", "_nearest") if hasattr(self, name)]
        for obj in objects:
            obj.release()
        self._vertex_arrays.clear()
        self._programs.clear()
        self._uploads.clear()

    def __enter__(self) -> ImageBlitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _check_alive(self) -> None:
        if self._released:
            raise SmplpixError("this ImageBlitter has been released; create a new one")

    def _configure(self, program: moderngl.Program, mode: BlitMode) -> int:
        """Set the mode's uniforms; returns the number of texture units used."""
        program["u_texture"].value = 0
        if isinstance(mode, ChannelMode):
            program["u_channels"].write(_channel_matrix(mode).T.tobytes())
            program["u_offset"].value = (*_triple(mode.offset, "offset"), 0.0)
            return 1
        if isinstance(mode, OverlayMode):
            if not isinstance(mode.overlay, moderngl.Texture):
                raise InputError(f"overlay must be a moderngl.Texture, got {type(mode.overlay).__name__}")
            if not np.isfinite(mode.opacity) or not 0.0 <= mode.opacity <= 1.0:
                raise InputError(f"overlay opacity must be within [0, 1], got {mode.opacity}")
            program["u_overlay"].value = 1
            program["u_opacity"].value = float(mode.opacity)
            return 2
        return 1


def _triple(value: float | tuple[float, float, float], name: str) -> tuple[float, float, float]:
    try:
        values = np.broadcast_to(np.asarray(value, np.float64), (3,))
    except (TypeError, ValueError):
        values = None
    if values is None or not np.isfinite(values).all():
        raise InputError(f"channel view {name} must be a finite number or 3 numbers, got {value!r}")
    return tuple(float(v) for v in values)


def _channel_matrix(mode: ChannelMode) -> np.ndarray:
    """(4, 4) float32 matrix M with (M @ texel)[i] = texel[channels[i]] * scale[i]."""
    channels = tuple(mode.channels)
    if len(channels) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 3 for c in channels):
        raise InputError(f"channel view needs 3 channel indices in 0..3, got {mode.channels!r}")
    matrix = np.zeros((4, 4), np.float32)
    for row, (channel, scale) in enumerate(zip(channels, _triple(mode.scale, "scale"), strict=True)):
        matrix[row, channel] = scale
    return matrix
