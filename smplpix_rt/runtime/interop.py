"""CUDA–OpenGL interop: OpenGL textures seen by CUDA without a trip through host memory.

Written against the ``cuda-bindings`` runtime API (``from cuda.bindings import runtime``; every call
returns ``(cudaError_t, *values)``). Run on an NVIDIA H200 (driver 580.159, CUDA 13, cuda-bindings
13.3.1, headless EGL): the round trip texture → CUDA → texture is bit-exact, and the frame loop
built on it (:mod:`smplpix_rt.runtime.device`) gives the same images as the host path.
:class:`CudaGraph` (used by the TensorRT generator only) has not run on a GPU.
``scripts/gpu_check.py`` checks all of this on a GPU machine.

``cuda.bindings`` is imported only inside this module's functions. The layout contract that makes
each direction a single 2D copy:

* the G-buffer targets are RGBA16F and their row 0 is the image's top row (the camera's projection
  puts the image top at framebuffer row 0), so a texture's CUDA array is exactly a (H, W, 4)
  float16 NHWC plane — no flip, no channel shuffle (channel selection happens in the generator graph);
* the display texture is RGBA16F too (3-channel textures cannot be registered with CUDA); the
  frame loop writes (H, W, 4) float16 with alpha 1 into it, again with one 2D copy.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Sequence
from typing import Any

from smplpix_rt.errors import BackendUnavailableError, SmplpixError

GL_TEXTURE_2D = 0x0DE1
#: Bytes per texel of an RGBA16F texture.
RGBA16F_TEXEL_BYTES = 8


def import_cudart() -> Any:
    """``cuda.bindings.runtime`` with an actionable error when cuda-bindings is missing."""
    try:
        from cuda.bindings import runtime
    except ImportError as exc:
        raise BackendUnavailableError(
            f"cuda-bindings is not installed ({exc}); pip install cuda-bindings for the CUDA–OpenGL interop path"
        ) from None
    return runtime


def checked(result: Any, what: str) -> Any:
    """Unpack a cuda-bindings result ``(err, *values)``; raise on an error code.

    Returns:
        None, the single value, or a tuple of values.

    Raises:
        SmplpixError: the call failed; the message names the call and CUDA's error string.
    """
    err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    if int(err) != 0:
        cudart = import_cudart()
        text = cudart.cudaGetErrorString(err)[1]
        text = text.decode() if isinstance(text, bytes) else str(text)
        raise SmplpixError(f"{what} failed: {getattr(err, 'name', err)} ({text})")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def cuda_device_count() -> tuple[int, str]:
    """Number of usable CUDA devices and, when there is none, why.

    Returns:
        ``(count, reason)``: reason is ``""`` when ``count > 0``. Never raises: a missing driver
        (``cudaErrorInsufficientDriver``, ``cudaErrorNoDevice``) or missing cuda-bindings is a reason.
    """
    try:
        cudart = import_cudart()
    except BackendUnavailableError as exc:
        return 0, str(exc)
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0:
        text = cudart.cudaGetErrorString(err)[1]
        text = text.decode() if isinstance(text, bytes) else str(text)
        return 0, f"cudaGetDeviceCount: {getattr(err, 'name', err)} ({text})"
    if count == 0:
        return 0, "no CUDA device found"
    return int(count), ""


def gl_cuda_devices() -> tuple[int, ...]:
    """CUDA device indices that drive the current OpenGL context (``cudaGLGetDevices``).

    Empty when the context is not on an NVIDIA GPU (Mesa, another vendor) or the call fails.
    The GL context must be current on the calling thread.
    """
    cudart = import_cudart()
    result = cudart.cudaGLGetDevices(8, cudart.cudaGLDeviceList.cudaGLDeviceListAll)
    if int(result[0]) != 0:
        return ()
    count, devices = result[1], result[2]
    return tuple(int(d) for d in list(devices)[: int(count)])


class RegisteredTextures:
    """CUDA registrations of RGBA16F moderngl textures: the single owner of those registrations.

    Register once (and again after the textures are recreated, e.g. on resize); per frame call
    :meth:`map`, the copy methods, then :meth:`unmap` on the same stream. Mapping waits for the GL
    commands issued before it; unmapping makes GL commands issued after it wait for the CUDA work.

    Args:
        textures: the textures to register (each ``components == 4``, ``dtype == "f2"``); their
            GL context must be current.
        write_only: per texture, True for a texture CUDA only writes (``WriteDiscard``), False
            for one it only reads (``ReadOnly``).

    Raises:
        BackendUnavailableError: cuda-bindings missing.
        SmplpixError: a texture is not RGBA16F, or CUDA refused a registration (non-NVIDIA context).
    """

    def __init__(self, textures: Sequence[Any], write_only: Sequence[bool]) -> None:
        self._cudart = import_cudart()
        self._resources: list[Any] = []
        self._mapped: Any = None
        flags = self._cudart.cudaGraphicsRegisterFlags
        try:
            for texture, write in zip(textures, write_only, strict=True):
                if texture.components != 4 or texture.dtype != "f2":
                    raise SmplpixError(
                        f"interop needs RGBA16F textures, got {texture.components} components of {texture.dtype}"
                    )
                flag = flags.cudaGraphicsRegisterFlagsWriteDiscard if write else flags.cudaGraphicsRegisterFlagsReadOnly
                resource = checked(
                    self._cudart.cudaGraphicsGLRegisterImage(texture.glo, GL_TEXTURE_2D, int(flag)),
                    "cudaGraphicsGLRegisterImage",
                )
                self._resources.append(resource)
        except BaseException:
            self.release()
            raise
        # cuda-bindings takes the ``resources`` of cudaGraphicsMapResources / UnmapResources as one
        # cudaGraphicsResource_t or as the address (int) of a C array of them; a Python list is a
        # TypeError. The array is built once and lives as long as the registrations.
        self._handles = (ctypes.c_void_p * len(self._resources))(*(int(r) for r in self._resources))
        self.sizes = tuple((t.width, t.height) for t in textures)

    def map(self, stream: int) -> list[Any]:
        """Map every texture on ``stream``; returns one ``cudaArray_t`` per texture (level 0).

        When a mapped array cannot be obtained, the textures are unmapped again before raising.
        """
        cudart = self._cudart
        handles = self._handles
        checked(cudart.cudaGraphicsMapResources(len(handles), ctypes.addressof(handles), stream), "map textures")
        self._mapped = stream
        try:
            return [
                checked(cudart.cudaGraphicsSubResourceGetMappedArray(r, 0, 0), "cudaGraphicsSubResourceGetMappedArray")
                for r in self._resources
            ]
        except BaseException:
            with contextlib.suppress(SmplpixError):
                self.unmap()
            raise

    def unmap(self) -> None:
        """Unmap on the stream they were mapped on (no-op when not mapped)."""
        if self._mapped is None:
            return
        stream, self._mapped = self._mapped, None
        handles = self._handles
        checked(self._cudart.cudaGraphicsUnmapResources(len(handles), ctypes.addressof(handles), stream), "unmap")

    def copy_from_array(self, array: Any, dst_ptr: int, width: int, height: int, stream: int) -> None:
        """One 2D copy: RGBA16F array → linear device buffer of (height, width, 4) float16."""
        row = width * RGBA16F_TEXEL_BYTES
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        checked(
            self._cudart.cudaMemcpy2DFromArrayAsync(dst_ptr, row, array, 0, 0, row, height, kind, stream),
            "cudaMemcpy2DFromArrayAsync",
        )

    def copy_to_array(self, src_ptr: int, array: Any, width: int, height: int, stream: int) -> None:
        """One 2D copy: linear device buffer of (height, width, 4) float16 → RGBA16F array."""
        row = width * RGBA16F_TEXEL_BYTES
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        checked(
            self._cudart.cudaMemcpy2DToArrayAsync(array, 0, 0, src_ptr, row, row, height, kind, stream),
            "cudaMemcpy2DToArrayAsync",
        )

    def release(self) -> None:
        """Unmap if needed and unregister everything. Idempotent; the GL context must still be current."""
        try:
            self.unmap()
        finally:
            while self._resources:
                self._cudart.cudaGraphicsUnregisterResource(self._resources.pop())


class CudaGraph:
    """A captured sequence of work on one stream, replayed with one launch (``cudaGraphLaunch``).

    Used for TensorRT inference at fixed shapes and buffer addresses: capture after one ordinary
    run (TensorRT applies deferred shape updates there), replay afterwards. Owner of the graph
    and its executable instance.

    Args:
        stream: the stream to capture on (not the legacy default stream).
        work: a callable enqueueing the work on ``stream``.
    """

    def __init__(self, stream: int, work: Any) -> None:
        cudart = self._cudart = import_cudart()
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        checked(cudart.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")
        try:
            work()
        except BaseException:
            # End the capture so the stream is usable again, and free what it recorded.
            err, graph = cudart.cudaStreamEndCapture(stream)
            if int(err) == 0 and graph is not None:
                cudart.cudaGraphDestroy(graph)
            raise
        graph = checked(cudart.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        try:
            self._exec = checked(cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        except BaseException:
            cudart.cudaGraphDestroy(graph)
            raise
        self._graph = graph

    def launch(self, stream: int) -> None:
        """Replay the captured work on ``stream``."""
        checked(self._cudart.cudaGraphLaunch(self._exec, stream), "cudaGraphLaunch")

    def release(self) -> None:
        """Destroy the executable and the graph. Idempotent."""
        if self._exec is not None:
            self._cudart.cudaGraphExecDestroy(self._exec)
            self._cudart.cudaGraphDestroy(self._graph)
            self._exec = self._graph = None
