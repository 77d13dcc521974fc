"""Headless OpenGL contexts (EGL) and a description of the driver behind a context."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
from collections.abc import Iterator

import moderngl

from smplpix_rt.errors import GLUnavailableError

#: The GL version every program in ``shaders/`` needs (GLSL 330 core).
REQUIRED_GL_VERSION = 330

_INSTALL_HINT = "install the EGL and OpenGL libraries (Debian/Ubuntu: apt-get install libegl1 libgl1)"


@contextlib.contextmanager
def software_gl_threads(count: int | None) -> Iterator[None]:
    """Ask Mesa's llvmpipe for ``count`` rasterizer threads for GL screens created inside the block.

    llvmpipe reads ``LP_NUM_THREADS`` when a display's GL screen is created (a window's at GLFW's
    first init, a headless context's at its EGL display's); hardware drivers ignore it. With 0
    the driver rasterizes on the thread that draws. On a small CPU that is often as fast: for the
    body's G-buffer the draw call's vertex work on the calling thread dominates, and the threads
    only add hand-offs and compete with the generator's. Does nothing when ``count`` is None or
    the user has set ``LP_NUM_THREADS`` (theirs applies to every context).
    """
    if count is None or "LP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["LP_NUM_THREADS"] = str(count)
    try:
        yield
    finally:
        os.environ.pop("LP_NUM_THREADS", None)


def create_headless_context(
    require: int = REQUIRED_GL_VERSION, software_threads: int | None = None
) -> moderngl.Context:
    """Create a standalone OpenGL context through EGL (no window or X server needed).

    Works the same with or without ``DISPLAY``; on a machine without a GPU Mesa's llvmpipe
    software rasterizer serves it. The caller owns the context and releases it.

    Args:
        require: minimum OpenGL version as ``major * 100 + minor * 10`` (330 = 3.3).
        software_threads: rasterizer threads a software driver (llvmpipe) should use, see
            :func:`software_gl_threads`; None leaves the driver's choice (one per core). It
            applies when this is the process's first headless context (the EGL display is
            initialized once).

    Returns:
        The new context.

    Raises:
        GLUnavailableError: no EGL library, no usable display/device, or a GL version below
            ``require``; the one-line message names the cause and what to install.
    """
    try:
        with software_gl_threads(software_threads):
            return moderngl.create_standalone_context(require=require, backend="egl")
    except Exception as exc:  # glcontext raises plain Exceptions with driver text
        raise GLUnavailableError(
            f"cannot create a headless OpenGL {require // 100}.{require % 100 // 10} context with EGL "
            f"({_one_line(exc)}); {_INSTALL_HINT}"
        ) from exc


def finish_releasing_gil(ctx: moderngl.Context) -> None:
    """Wait for ``ctx``'s queued GL work with the GIL released (``ctx`` must be current here).

    ``moderngl`` keeps the GIL while it waits for the driver, so a read-back on one thread stalls
    every other Python thread while a software rasterizer (llvmpipe) draws: a render worker would
    freeze the UI thread for the whole rasterization. ``glFinish`` called through ``ctypes``
    (which releases the GIL around foreign calls) does the waiting instead, and the read-back that
    follows only copies. Falls back to ``ctx.finish()`` when no GL library can be loaded.
    """
    gl = _ctypes_gl()
    if gl is None:
        ctx.finish()
    else:
        gl.glFinish()


def render_releasing_gil(vertex_array: moderngl.VertexArray, mode: int = moderngl.TRIANGLES) -> None:
    """``vertex_array.render(mode)`` with the GIL released during the draw call.

    llvmpipe shades the vertices and bins the triangles inside the draw call, on the calling
    thread (~3 ms for a 15k-vertex body on the reference CPU); made through ``moderngl`` that time
    blocks every other Python thread. For an indexed array with 32-bit indices this binds the
    program and the vertex array and issues ``glDrawElements`` through ``ctypes`` (the same calls
    ``moderngl`` makes); anything else, or no loadable GL library, goes through ``moderngl``.
    """
    gl = _ctypes_gl()
    if gl is None or vertex_array.index_buffer is None or vertex_array.index_element_size != 4:
        vertex_array.render(mode)
        return
    gl.glUseProgram(vertex_array.program.glo)
    gl.glBindVertexArray(vertex_array.glo)
    gl.glDrawElements(mode, vertex_array.vertices, _GL_UNSIGNED_INT, None)
    gl.glBindVertexArray(0)


_GL_UNSIGNED_INT = 0x1405


@functools.cache
def _ctypes_gl():
    """GLVND's libOpenGL (or libGL) with the few entry points used here, or None.

    Both dispatch to the context current on the calling thread, whichever API (EGL or GLX) made it
    current.
    """
    for name in ("libOpenGL.so.0", "libGL.so.1", ctypes.util.find_library("OpenGL"), ctypes.util.find_library("GL")):
        if not name:
            continue
        try:
            gl = ctypes.CDLL(name)
            signatures = {
                "glFinish": [],
                "glUseProgram": [ctypes.c_uint],
                "glBindVertexArray": [ctypes.c_uint],
                "glDrawElements": [ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p],
            }
            for function, argtypes in signatures.items():
                entry = getattr(gl, function)
                entry.restype, entry.argtypes = None, argtypes
        except (OSError, AttributeError):
            continue
        return gl
    return None


def gl_info(ctx: moderngl.Context) -> dict[str, str]:
    """What drives ``ctx``: renderer, version, vendor and the largest texture size.

    Args:
        ctx: any moderngl context (headless or a window's).

    Returns:
        ``{"renderer", "version", "vendor", "max_texture_size"}`` as strings, for ``smplpix info``.
    """
    info = ctx.info
    return {
        "renderer": str(info.get("GL_RENDERER", "unknown")),
        "version": str(info.get("GL_VERSION", "unknown")),
        "vendor": str(info.get("GL_VENDOR", "unknown")),
        "max_texture_size": str(info.get("GL_MAX_TEXTURE_SIZE", "unknown")),
    }


def is_software_renderer(ctx: moderngl.Context) -> bool:
    """True when ``ctx`` runs on a CPU rasterizer (llvmpipe, softpipe, swrast, lavapipe)."""
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(name in renderer for name in ("llvmpipe", "softpipe", "swrast", "lavapipe"))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
