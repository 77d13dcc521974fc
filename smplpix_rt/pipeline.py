"""The pipeline: body parameters + camera → avatar image, with per-stage timings.

``Pipeline`` wires the three stages and owns them: the body model (CPU), the G-buffer renderer
(GL objects in a context it is given or creates) and the generator runtime. The CLI and the viewer
both use it; the viewer calls the stages separately so that rasterization stays on the GL thread and
inference runs on a worker. :meth:`Pipeline.render_many` overlaps the stages of consecutive frames
for batch rendering.

Frames take one of two paths (:attr:`Pipeline.frame_path`): ``host`` reads the G-buffer back to
host memory and gives it to the generator there; ``interop`` (NVIDIA OpenGL and a CUDA generator
on one GPU) keeps the G-buffer and the generator's output on the GPU and copies only the finished
uint8 image to the host (:class:`~smplpix_rt.runtime.device.DeviceFrameLoop`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplpix_rt.body import load_body_model
from smplpix_rt.body.base import BodyModel
from smplpix_rt.camera import Camera
from smplpix_rt.contracts import BodyParams, Frame, GBuffer, Mesh, StageTimings
from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError
from smplpix_rt.resources import models_dir
from smplpix_rt.runtime.base import Runtime

DEFAULT_MODEL_NAME = "default.onnx"


def default_model_path() -> Path:
    """The shipped default avatar. Raises :class:`ModelFileError` if the installation lacks it."""
    path = models_dir() / DEFAULT_MODEL_NAME
    if not path.is_file():
        raise ModelFileError(f"the default avatar {path} is missing from this installation; pass --model PATH")
    return path


@dataclass(frozen=True)
class PipelineConfig:
    """How to build a :class:`Pipeline`.

    Attributes:
        model: generator file (``.onnx``, ``.safetensors``, ``.pt``, ``.engine``); None = shipped default.
        backend: ``auto``, ``torch``, ``onnxruntime`` or ``tensorrt``.
        width, height: output size in pixels (multiples of the generator's ``size_multiple``).
        body_model: body model name; None = the one the generator was trained for.
        body_model_path: model files for body models that need them (SMPL-X).
        gl_threads: rasterizer threads of a software OpenGL driver (Mesa llvmpipe) for the
            pipeline's own headless context (see
            :func:`~smplpix_rt.raster.context.software_gl_threads`); None = the driver's choice.
        frame_path: ``"auto"`` (interop where it works, else host copies), ``"host"`` or
            ``"interop"`` (an error where it cannot work). See :attr:`Pipeline.frame_path`.
    """

    model: Path | None = None
    backend: str = "auto"
    width: int = 256
    height: int = 256
    body_model: str | None = None
    body_model_path: Path | None = None
    gl_threads: int | None = None
    frame_path: str = "auto"


FRAME_PATHS = ("auto", "host", "interop")


def _check_frame_path(frame_path: str) -> None:
    if frame_path not in FRAME_PATHS:
        raise InputError(f"frame path must be one of {', '.join(FRAME_PATHS)}, got {frame_path!r}")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] → (H, W, 3) uint8 (rounded, clipped)."""
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _body_options(model: Path, manifest) -> dict:
    """Body-model options a generator file dictates (the vertex colours of an imported SMPLpix model)."""
    if manifest.encoding != "smplpix" or manifest.body_model != "smplx" or model.suffix != ".onnx":
        return {}
    from smplpix_rt.generator.vertex_colors import read_vertex_colors

    colors = read_vertex_colors(model)
    return {} if colors is None else {"vertex_colors": colors}


class Pipeline:
    """Body model → G-buffer renderer → generator runtime.

    Args:
        body: the body model.
        renderer: a ``GBufferRenderer`` whose encoding matches the generator's manifest.
        runtime: the loaded generator.
        owns_context: release the renderer's GL context in :meth:`release` (headless use).
        frame_path: ``"auto"``, ``"host"`` or ``"interop"`` (see :class:`PipelineConfig`).

    Attributes:
        frame_path: ``"host"`` or ``"interop"``, the path :meth:`render` takes.
        frame_path_reason: why (one line, e.g. "OpenGL runs on a software renderer (llvmpipe …)").

    Raises:
        BackendUnavailableError: ``frame_path="interop"`` where it cannot work (the reason says why).
    """

    def __init__(
        self, body: BodyModel, renderer, runtime: Runtime, owns_context: bool = False, frame_path: str = "host"
    ) -> None:
        from smplpix_rt.generator.manifest import check_compatible

        _check_frame_path(frame_path)
        check_compatible(runtime.manifest, body.spec.name, renderer.encoding.name)
        multiple = runtime.manifest.size_multiple
        if renderer.width % multiple or renderer.height % multiple:
            raise InputError(
                f"image size {renderer.width}x{renderer.height} must be a multiple of {multiple} for this generator"
            )
        self.body, self.renderer, self.runtime = body, renderer, runtime
        self._owns_context = owns_context
        self._device_loop = None
        self.frame_path, self.frame_path_reason = "host", "requested"
        if frame_path != "host":
            self._open_device_loop(required=frame_path == "interop")

    def _open_device_loop(self, required: bool) -> None:
        from smplpix_rt.runtime.device import (
            FRAME_PATH_INTEROP,
            DeviceFrameLoop,
            device_generator_for,
            select_frame_path,
        )

        path, reason = select_frame_path(self.renderer.ctx, self.runtime)
        if path == FRAME_PATH_INTEROP:
            self._device_loop = DeviceFrameLoop(self.renderer, device_generator_for(self.runtime))
        elif required:
            raise BackendUnavailableError(f"the interop frame path cannot work here: {reason}")
        self.frame_path, self.frame_path_reason = path, reason

    @classmethod
    def open(cls, config: PipelineConfig, ctx=None) -> Pipeline:
        """Load the generator, the body model it was trained for, and a renderer.

        Args:
            config: what to load.
            ctx: a moderngl context to render in (a window's); None creates a headless EGL one.
        """
        from smplpix_rt.raster.renderer import GBufferRenderer
        from smplpix_rt.runtime.loader import load_runtime

        model = Path(config.model) if config.model is not None else default_model_path()
        _check_frame_path(config.frame_path)  # before the (slow) model load
        runtime = load_runtime(model, backend=config.backend)
        owns, renderer = ctx is None, None
        try:
            manifest = runtime.manifest
            name = config.body_model or manifest.body_model
            if name != manifest.body_model:
                raise ModelFileError(f"{model} was trained for the {manifest.body_model!r} body model, not {name!r}")
            body = load_body_model(name, config.body_model_path, **_body_options(model, manifest))
            ctx = ctx if ctx is not None else _headless_context_for(runtime, config.gl_threads)
            renderer = GBufferRenderer(ctx, config.width, config.height, encoding=manifest.encoding)
            return cls(body, renderer, runtime, owns_context=owns, frame_path=config.frame_path)
        except BaseException:
            if renderer is not None:
                renderer.release()
            runtime.release()
            if owns and ctx is not None:
                ctx.release()
            raise

    @property
    def width(self) -> int:
        return self.renderer.width

    @property
    def height(self) -> int:
        return self.renderer.height

    def pose(self, params: BodyParams) -> Mesh:
        """Stage 1: body parameters → posed mesh."""
        return self.body.forward(params)

    def rasterize(self, mesh: Mesh, camera: Camera) -> GBuffer:
        """Stage 2: mesh + camera → G-buffer (GL thread)."""
        return self.renderer.render(mesh, camera)

    def generate(self, gbuffer: GBuffer) -> np.ndarray:
        """Stage 3: G-buffer → (H, W, 3) uint8 image (any thread)."""
        return to_uint8(self.runtime.infer(gbuffer.planes))

    def render(self, params: BodyParams, camera: Camera) -> Frame:
        """All stages for one frame, timed.

        On the interop path the GPU runs the raster and the generator asynchronously: ``raster_ms``
        is then the time to issue the draw, and ``generator_ms`` holds the GPU's raster time too.
        """
        t0 = time.perf_counter()
        mesh = self.pose(params)
        t1 = time.perf_counter()
        if self._device_loop is not None:
            self.renderer.draw(mesh, camera)
            t2 = time.perf_counter()
            self._device_loop.generate()
            image = self._device_loop.read_image()
        else:
            gbuffer = self.rasterize(mesh, camera)
            t2 = time.perf_counter()
            image = self.generate(gbuffer)
        t3 = time.perf_counter()
        ms = 1000.0
        timings = StageTimings((t1 - t0) * ms, (t2 - t1) * ms, (t3 - t2) * ms, (t3 - t0) * ms)
        return Frame(image, timings)

    def render_many(self, requests: Iterable[tuple[BodyParams, Camera]], overlap: bool = True) -> Iterator[Frame]:
        """Frames for a stream of ``(params, camera)`` requests, in order (batch rendering).

        With ``overlap`` on the host frame path, the generator runs on a second thread: while it
        makes frame *k*, this thread poses and rasterizes frame *k + 1*. On a CPU the
        single-threaded raster work then fills the time the generator leaves free (see ``smplpix
        bench``'s ``overlapped_fps``); the frames are the same as :meth:`render`'s. ``total_ms``
        of a frame runs from posing to the generator's end, including any wait between the two.
        The interop path already overlaps on the GPU and renders one frame at a time.
        """
        if not overlap or self._device_loop is not None:
            for params, camera in requests:
                yield self.render(params, camera)
            return
        from concurrent.futures import ThreadPoolExecutor

        def generate(gbuffer: GBuffer, t0: float, t1: float, t2: float) -> Frame:
            start = time.perf_counter()
            image = self.generate(gbuffer)
            t3 = time.perf_counter()
            ms = 1000.0
            return Frame(image, StageTimings((t1 - t0) * ms, (t2 - t1) * ms, (t3 - start) * ms, (t3 - t0) * ms))

        with ThreadPoolExecutor(1, thread_name_prefix="smplpix-generate") as pool:
            in_flight = []
            try:
                for params, camera in requests:
                    t0 = time.perf_counter()
                    mesh = self.pose(params)
                    t1 = time.perf_counter()
                    gbuffer = self.rasterize(mesh, camera)
                    in_flight.append(pool.submit(generate, gbuffer, t0, t1, time.perf_counter()))
                    if len(in_flight) == 2:  # one frame generating while the next was rasterized
                        yield in_flight.pop(0).result()
                while in_flight:
                    yield in_flight.pop(0).result()
            finally:
                for future in in_flight:  # the caller stopped early or a stage failed
                    future.cancel()

    def release(self) -> None:
        """Free the runtime and GL objects (and the context if this pipeline created it)."""
        ctx = self.renderer.ctx if self._owns_context else None
        if self._device_loop is not None:
            self._device_loop.release()
            self._device_loop = None
        self.renderer.release()
        self.runtime.release()
        if ctx is not None:
            ctx.release()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _headless_context_for(runtime: Runtime, gl_threads: int | None):
    """A headless context; for a CUDA generator, on the EGL device of its GPU when there is one."""
    from smplpix_rt.errors import GLUnavailableError
    from smplpix_rt.raster.context import create_headless_context

    device = runtime.describe().device
    if device.startswith("cuda"):
        from smplpix_rt.raster.egl_device import create_context_on_cuda_device

        try:
            return create_context_on_cuda_device(int(device.split(":", 1)[1]) if ":" in device else 0)
        except GLUnavailableError:
            pass  # no NVIDIA EGL device for it: the default context (host copies)
    return create_headless_context(software_threads=gl_threads)


__all__ = ["FRAME_PATHS", "Pipeline", "PipelineConfig", "default_model_path", "to_uint8", "DEFAULT_MODEL_NAME"]
