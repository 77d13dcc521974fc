"""The window: GLFW + an OpenGL 3.3 core context + Dear ImGui (imgui-bundle's native backends).

``imgui_bundle`` is imported before ``glfw`` on purpose: it points pyGLFW at the GLFW library it
ships, the one its ImGui backend was built against.
"""

from __future__ import annotations

import ctypes
import os

import imgui_bundle  # noqa: F401  (must come before glfw, see module docs)
from imgui_bundle import imgui

# isort: split
import glfw
import moderngl
import numpy as np

from smplpix_rt.errors import SmplpixError
from smplpix_rt.raster.context import software_gl_threads

from .viewport import collect_gl_garbage

NO_DISPLAY_MESSAGE = "no display found; use `smplpix render` for headless rendering"


class NoDisplayError(SmplpixError):
    """No X11 / Wayland display to open a window on."""


def display_available() -> bool:
    """A display server is named in the environment (``DISPLAY`` or ``WAYLAND_DISPLAY``)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def wake() -> None:
    """Make a waiting :meth:`Window.wait_events` return now (safe from any thread and signal handlers)."""
    try:
        glfw.post_empty_event()
    except Exception:  # GLFW not initialized (yet / any more): there is no wait to interrupt
        pass


class SubBufferCopy:
    """``glXCopySubBufferMESA`` for one X11 window: put a rectangle of the back buffer on screen.

    Unlike a buffer swap, the copy leaves the back buffer as it is, so a frame only needs to redraw
    what changed (see :mod:`.damage`). Mesa's GLX offers it (extension ``GLX_MESA_copy_sub_buffer``),
    also for its software rasterizers; :meth:`find` returns None elsewhere (Wayland, other drivers).
    """

    def __init__(self, copy, display: int, drawable: int) -> None:
        self._copy, self._display, self._drawable = copy, display, drawable

    @staticmethod
    def find(handle) -> SubBufferCopy | None:
        try:
            display, drawable = glfw.get_x11_display(), glfw.get_glx_window(handle)
            if not display or not drawable:
                return None
            libgl, libx11 = ctypes.CDLL("libGL.so.1"), ctypes.CDLL("libX11.so.6")
            libx11.XDefaultScreen.argtypes, libx11.XDefaultScreen.restype = [ctypes.c_void_p], ctypes.c_int
            query = libgl.glXQueryExtensionsString
            query.argtypes, query.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_char_p
            extensions = (query(display, libx11.XDefaultScreen(display)) or b"").decode(errors="replace").split()
            if "GLX_MESA_copy_sub_buffer" not in extensions:
                return None
            lookup = libgl.glXGetProcAddressARB
            lookup.argtypes, lookup.restype = [ctypes.c_char_p], ctypes.c_void_p
            address = lookup(b"glXCopySubBufferMESA")
        except (AttributeError, OSError, TypeError, glfw.GLFWError):  # not X11 / GLX, or no such library
            return None
        if not address:
            return None
        signature = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_ulong, *[ctypes.c_int] * 4)
        return SubBufferCopy(signature(address), display, drawable)

    def __call__(self, x: int, y: int, width: int, height: int) -> None:
        """Copy the rectangle (GL window coordinates, from the bottom left); flushes GL first."""
        self._copy(self._display, self._drawable, x, y, width, height)


class Window:
    """A GLFW window with a moderngl context and an ImGui context drawn on top.

    The window starts hidden; :meth:`show` maps it once the caller has loaded what it shows.

    Args:
        width, height: initial window size in screen coordinates.
        title: window title (tests find the window by it).
        gl_threads: rasterizer threads of a software OpenGL driver (Mesa llvmpipe) for this
            window, see :func:`smplpix_rt.raster.context.software_gl_threads`; None leaves the driver's choice.

    Raises:
        NoDisplayError: no display, or GLFW cannot open one or create the GL context.
    """

    def __init__(self, width: int, height: int, title: str = "smplpix viewer", gl_threads: int | None = None) -> None:
        if not display_available():
            raise NoDisplayError(NO_DISPLAY_MESSAGE)
        glfw.ERROR_REPORTING = "ignore"  # failures are reported through return values, as one clear line
        with software_gl_threads(gl_threads):
            if not glfw.init():
                raise NoDisplayError(NO_DISPLAY_MESSAGE)
            self._imgui_ready = False
            try:
                self._open(width, height, title)
            except BaseException:
                self.close()
                raise

    def _open(self, width: int, height: int, title: str) -> None:
        self._handle = self._create(width, height, title)
        # Asking the X server for the size is a round trip (~0.4 ms on a busy machine), so the
        # size is kept up to date by GLFW's callback instead of queried every frame.
        self._framebuffer_size = tuple(glfw.get_framebuffer_size(self._handle))
        self._on_resize = self._framebuffer_resized  # a reference GLFW's callback slot needs alive
        glfw.set_framebuffer_size_callback(self._handle, self._on_resize)
        self._exposed, self._sub_buffer_copy = True, False
        self._on_refresh = self._refresh
        glfw.set_window_refresh_callback(self._handle, self._on_refresh)
        self.ctx = moderngl.create_context(require=330)
        self.ctx.gc_mode = "context_gc"  # see collect_gl_garbage(); collected once per frame
        self._init_imgui()

    @staticmethod
    def _create(width: int, height: int, title: str):
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, False)
        # The UI draws no 3D geometry into the window (mesh views render off-screen). Without a
        # depth-stencil buffer every clear touches the colour buffer only: a software rasterizer
        # (Mesa llvmpipe) spends ~3.5 ms less per 1280x800 UI frame.
        glfw.window_hint(glfw.DEPTH_BITS, 0)
        glfw.window_hint(glfw.STENCIL_BITS, 0)
        handle = glfw.create_window(width, height, title, None, None)
        if not handle:
            raise NoDisplayError(f"{NO_DISPLAY_MESSAGE} (could not create an OpenGL 3.3 window)")
        glfw.make_context_current(handle)
        glfw.swap_interval(0)  # the loop paces itself; vsync would also stall on hidden windows
        return handle

    def _init_imgui(self) -> None:
        imgui.create_context()
        io = imgui.get_io()
        io.config_flags |= imgui.ConfigFlags_.docking_enable.value
        io.set_ini_filename("")  # the layout is built by the viewer; no file is read from the working directory
        imgui.style_colors_dark()
        address = ctypes.cast(self._handle, ctypes.c_void_p).value
        imgui.backends.glfw_init_for_opengl(address, True)
        imgui.backends.opengl3_init("#version 330")
        self._imgui_ready = True

    def show(self) -> None:
        glfw.show_window(self._handle)

    @property
    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self._handle))

    def request_close(self) -> None:
        glfw.set_window_should_close(self._handle, True)

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return self._framebuffer_size

    def _framebuffer_resized(self, _handle, width: int, height: int) -> None:
        self._framebuffer_size = (int(width), int(height))

    def wait_events(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for window events (or :func:`wake`) and process them."""
        if timeout > 0:
            glfw.wait_events_timeout(timeout)

    def begin_frame(self) -> None:
        """Process pending window events and start an ImGui frame."""
        glfw.poll_events()
        imgui.backends.opengl3_new_frame()
        imgui.backends.glfw_new_frame()
        imgui.new_frame()

    def render_imgui(self) -> None:
        """Draw the ImGui frame over whatever the caller has drawn on the screen."""
        imgui.backends.opengl3_render_draw_data(imgui.get_draw_data())

    def swap(self) -> None:
        glfw.swap_buffers(self._handle)

    @property
    def sub_buffer_copy(self) -> SubBufferCopy | None:
        """The window's :class:`SubBufferCopy`, None where the platform has none (looked up once)."""
        if self._sub_buffer_copy is False:
            self._sub_buffer_copy = SubBufferCopy.find(self._handle)
        return self._sub_buffer_copy

    def present(self, rect: tuple[int, int, int, int] | None = None) -> None:
        """Put the back buffer, or only ``rect`` of it (GL coordinates), on screen and keep it as it is.

        Requires :attr:`sub_buffer_copy`; use :meth:`swap` otherwise.
        """
        copy = self.sub_buffer_copy
        if copy is None:
            raise RuntimeError("this window cannot present part of its back buffer")
        width, height = self.framebuffer_size
        copy(*(rect if rect is not None else (0, 0, width, height)))

    def take_exposed(self) -> bool:
        """True once after the window system asked for the window's contents again (exposed, restored)."""
        exposed, self._exposed = self._exposed, False
        return exposed

    def _refresh(self, _handle) -> None:
        self._exposed = True

    def collect_garbage(self) -> int:
        """Free the GL objects of dropped wrappers (the window's thread only); returns how many."""
        return collect_gl_garbage(self.ctx)

    def read_screen(self) -> np.ndarray:
        """The window's back buffer: (H, W, 3) uint8 RGB, row 0 at the top (call before :meth:`swap`)."""
        width, height = self.framebuffer_size
        data = self.ctx.screen.read(viewport=(0, 0, width, height), components=3, alignment=1)
        _ = self.ctx.error  # reading the default framebuffer leaves a harmless GL error behind
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1].copy()

    def close(self) -> None:
        """Shut ImGui down and destroy the window. Idempotent."""
        if getattr(self, "ctx", None) is not None and getattr(self, "_handle", None):
            self.collect_garbage()
        if self._imgui_ready:
            self._imgui_ready = False
            imgui.backends.opengl3_shutdown()
            imgui.backends.glfw_shutdown()
            imgui.destroy_context()
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            glfw.destroy_window(handle)
        glfw.terminate()


__all__ = ["NO_DISPLAY_MESSAGE", "NoDisplayError", "SubBufferCopy", "Window", "display_available"]
