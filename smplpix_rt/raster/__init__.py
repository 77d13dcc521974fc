"""The rasterizer stage: posed mesh + camera → G-buffer (OpenGL through moderngl).

Owns: headless EGL contexts (:mod:`.context`), the G-buffer encodings (:mod:`.encodings`), the
:class:`GBufferRenderer` with every GL object it draws with, and the :class:`ImageBlitter` that
draws textures into a framebuffer for display. GLSL sources live in the top-level ``shaders/``.

Does not own: window creation or GUI (the viewer app), the body model that makes meshes, the
cameras (:mod:`smplpix_rt.camera`) or CUDA/GL interop of the render targets (the runtimes).
"""

from smplpix_rt.raster.blit import ChannelMode, ImageBlitter, ImageMode, OverlayMode
from smplpix_rt.raster.context import create_headless_context, gl_info
from smplpix_rt.raster.encodings import DEFAULT_ENCODING, ENCODINGS, Encoding, encoding_names, get_encoding
from smplpix_rt.raster.renderer import GBufferRenderer

__all__ = [
    "ChannelMode",
    "DEFAULT_ENCODING",
    "ENCODINGS",
    "Encoding",
    "GBufferRenderer",
    "ImageBlitter",
    "ImageMode",
    "OverlayMode",
    "create_headless_context",
    "encoding_names",
    "get_encoding",
    "gl_info",
]
