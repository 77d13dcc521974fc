"""The render session: the pipeline on its own thread, and the viewport fed with its frames.

The whole pipeline runs on the :class:`~smplpix_viewer.inference.InferenceWorker`\\ 's threads:
pose the body and rasterize the G-buffer in the worker's own headless EGL context, then run the
generator on a second thread, which lets the next frame be posed and rasterized while the
generator runs (``overlap``). The UI thread only submits :class:`RenderJob`\\ s (latest wins) and
draws: it never waits for a stage (except in :meth:`RenderSession.time_alone`, a measurement), and
it never competes with the pipeline for the GL thread.
Each finished :class:`RenderedFrame` carries the mesh and the G-buffer it was made from, so the
mesh and G-buffer views show exactly what the neural image shows.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import moderngl
import numpy as np

from smplpix_rt.camera import Camera, OrbitCamera, framing_orbit
from smplpix_rt.contracts import BodyParams, GBuffer, Mesh, StageTimings
from smplpix_rt.pipeline import Pipeline, PipelineConfig

from .inference import InferenceResult, InferenceWorker
from .pacing import OVERLAP_MODES
from .presets import BodyExtras, body_extras
from .state import AppState
from .viewport import ViewportRenderer, collect_gl_garbage


@dataclass(frozen=True)
class WorkerOptions:
    """How the render worker shares the CPU with the UI.

    Attributes:
        overlap: when to pose and rasterize the next frame while the generator still runs the
            previous one (see :attr:`InferenceWorker.overlap`): ``"on"``, ``"off"`` or ``"auto"``
            (while a sequence plays, where the frame rate matters and no edit waits for its frame).
            A sequence render to video overlaps them unless ``"off"``.
        nice: added to the render threads' nice value (Linux; 0 leaves it): a lower priority than
            the UI thread's, so that the UI frames keep their pace when every core is busy. The
            generator's own threads, started by the worker, inherit it.
        hold_edits: keep edits in the state while the worker cannot start on them, and submit
            them once it can (the UI draws then: the ``frames`` pacing). Otherwise an edit made
            while the worker is busy waits in its queue for a whole frame, and the loop can fall
            into step with that: every edit then waits a frame before it is even started, which
            doubles the edit → screen latency. Not while a sequence plays: its next pose waiting
            in the queue keeps the worker busy.
    """

    overlap: str = "auto"
    nice: int = 0
    hold_edits: bool = False

    def __post_init__(self) -> None:
        if self.overlap not in OVERLAP_MODES:
            raise ValueError(f"overlap must be one of {', '.join(OVERLAP_MODES)}, got {self.overlap!r}")
        if not 0 <= self.nice <= 19:
            raise ValueError(f"nice must lie in [0, 19], got {self.nice}")


@dataclass(frozen=True)
class RenderJob:
    """What to render: body parameters seen through a camera at the generator's size."""

    params: BodyParams
    camera: Camera


@dataclass(frozen=True, eq=False)
class _Rasterized:
    """What the first stage hands the generator's stage."""

    camera: Camera
    mesh: Mesh
    gbuffer: GBuffer
    start: float  # perf_counter when posing started
    body_ms: float
    raster_ms: float


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """A finished frame and what it was made from.

    Attributes:
        image: (H, W, 3) uint8 RGB generator output, row 0 at the top.
        mesh: the posed mesh.
        camera: the camera it was rasterized with.
        gbuffer: the generator's input.
        timings: per-stage milliseconds on the worker; ``total_ms`` runs from posing to the
            generator's end, including any wait between the stages.
    """

    image: np.ndarray
    mesh: Mesh
    camera: Camera
    gbuffer: GBuffer
    timings: StageTimings


class RenderSession:
    """Owns the render worker (with the :class:`Pipeline` it opens) and the :class:`ViewportRenderer`.

    Args:
        config: what to load; the pipeline is opened on the worker thread in a headless context.
        ctx: the window's moderngl context (the viewport's GL objects live there).
        on_result: called on a worker thread when a frame is finished (wakes the UI loop).
        options: how the worker shares the CPU (:class:`WorkerOptions`).

    Raises:
        SmplpixError: the model, the body model or the GL context cannot be loaded (raised from
            the worker's start-up, with the worker already stopped).
    """

    def __init__(
        self,
        config: PipelineConfig,
        ctx: moderngl.Context,
        on_result: Callable[[], None] | None = None,
        options: WorkerOptions = WorkerOptions(),
    ) -> None:
        self.config, self.on_result, self.options = config, on_result, options
        #: Held while the body model computes (its caches are not thread-safe): by the worker
        #: around posing, by the UI thread around anything else that evaluates the body.
        self.body_lock = threading.Lock()
        self._pipeline: Pipeline | None = None
        self.home_camera = OrbitCamera()  # set on the worker: the rest body framed from the front
        self.extras: BodyExtras | None = None  # set on the worker: joint groups and presets
        self.worker = InferenceWorker(
            self._rasterize,
            on_result,
            start=self._open,
            stop=self._close_pipeline,
            finish=self._generate,
            overlap=options.overlap == "on",
        )
        self.worker.wait_started()
        self.pipeline: Pipeline = self._pipeline
        renderer = self.pipeline.renderer
        self.viewport = ViewportRenderer(ctx, renderer.width, renderer.height, renderer.encoding.targets)
        self.times = StageTimings()
        self.latency_ms = 0.0
        self.latencies: deque[float] = deque(maxlen=512)
        self._shown_edit_time: float | None = None  # edit time of a frame shown but not yet presented
        self.frames_shown = 0
        self.paused = False  # an offline export uses the worker exclusively

    # -------------------------------------------------------------------------- worker thread

    def _open(self) -> None:
        lower_thread_priority(self.options.nice)  # before the generator starts its threads
        # The worker hands host images and G-buffers to the UI thread, so it takes the host frame
        # path; its headless EGL context is current on this thread.
        self._pipeline = Pipeline.open(replace(self.config, frame_path="host"))
        self._pipeline.renderer.ctx.gc_mode = "context_gc"  # collected after every frame, see _rasterize
        body = self._pipeline.body
        with one_intra_op_thread():
            rest = body.forward(body.default_params())
        self.home_camera = framing_orbit(rest.vertices)
        self.extras = body_extras(body)

    def _close_pipeline(self) -> None:
        if self._pipeline is not None:
            self._pipeline.release()

    def _rasterize(self, job: RenderJob) -> _Rasterized:
        """First stage, on the worker thread (it owns the GL context): pose and rasterize."""
        pipeline = self._pipeline
        t0 = time.perf_counter()
        with self.body_lock, one_intra_op_thread():
            mesh = pipeline.pose(job.params)
        t1 = time.perf_counter()
        gbuffer = pipeline.rasterize(mesh, job.camera)
        t2 = time.perf_counter()
        collect_gl_garbage(pipeline.renderer.ctx)
        return _Rasterized(job.camera, mesh, gbuffer, t0, (t1 - t0) * 1e3, (t2 - t1) * 1e3)

    def _generate(self, done: _Rasterized) -> RenderedFrame:
        """Second stage, on the worker's second thread: the generator."""
        t2 = time.perf_counter()
        image = self._pipeline.generate(done.gbuffer)
        t3 = time.perf_counter()
        timings = StageTimings(done.body_ms, done.raster_ms, (t3 - t2) * 1e3, (t3 - done.start) * 1e3)
        return RenderedFrame(image, done.mesh, done.camera, done.gbuffer, timings)

    # ------------------------------------------------------------------------------ UI thread

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the generator output."""
        return self.pipeline.width, self.pipeline.height

    @property
    def gbuffer_planes(self) -> tuple[tuple[str, ...], ...]:
        """Channel names of each G-buffer target of the model's encoding."""
        return self.pipeline.renderer.encoding.targets

    def job(self, params: BodyParams, orbit: OrbitCamera) -> RenderJob:
        """A job for ``params`` seen through ``orbit`` at the generator's size."""
        return RenderJob(params, orbit.camera(*self.size))

    def update(self, state: AppState) -> InferenceResult | None:
        """Submit the state if it changed (unless held, see :class:`WorkerOptions`), and show the
        newest finished frame; returns it, if any."""
        if self.paused:
            return None
        overlap = self.options.overlap
        self.worker.overlap = overlap == "on" or (overlap == "auto" and state.sequence.playing)
        held = self.options.hold_edits and not state.sequence.playing and not self.worker.ready
        if (state.params_dirty or state.camera_dirty) and not held:
            edit_time, state.edit_time = state.edit_time, None
            state.params_dirty = state.camera_dirty = False
            self.worker.submit(self.job(state.params, state.camera), edit_time)
        result = self.worker.poll()
        if result is not None:
            self.show(result, state)
        return result

    def show(self, result: InferenceResult, state: AppState) -> None:
        """Put a finished frame into the viewport and update the timings (errors become messages)."""
        if result.error is not None:
            state.notify(f"cannot render this state: {result.error}", error=True)
            return
        frame: RenderedFrame = result.output
        self.viewport.set_frame(frame.image, frame.mesh, frame.camera, frame.gbuffer)
        self.frames_shown += 1
        self.times = frame.timings
        self._shown_edit_time = result.edit_time

    def presented(self, now: float | None = None) -> None:
        """The window showing the newest frame was swapped: its edit → screen latency is complete.

        Call after the buffer swap; latencies count from the oldest edit the frame shows to here.
        """
        if self._shown_edit_time is None:
            return
        now = time.perf_counter() if now is None else now
        self.latency_ms = (now - self._shown_edit_time) * 1000.0
        self.latencies.append(self.latency_ms)
        self._shown_edit_time = None

    def time_alone(self, jobs: list[RenderJob]) -> float:
        """Frames per second of the render worker with nothing else running (blocks the caller).

        Waits for the frame in flight, then renders ``jobs`` one after the other, each submitted
        as soon as the one before is finished, and drops their results. With the stages taking
        turns (edits) this is the pipeline's one-frame-at-a-time rate, measured in this process
        between stretches of interactive use: a measurement run compares the two without the
        machine's drift over minutes.
        """
        worker = self.worker
        worker.wait()
        start = time.perf_counter()
        for job in jobs:
            worker.submit(job)
            worker.wait()
        return len(jobs) / (time.perf_counter() - start)

    def show_image(self, frame: RenderedFrame) -> None:
        """Show a frame that did not come through the interactive path (offline export preview)."""
        self.viewport.set_frame(frame.image, frame.mesh, frame.camera, frame.gbuffer)

    def release(self) -> None:
        """Stop the worker (which releases the pipeline on its thread), then the viewport's GL objects."""
        self.worker.close()
        self.viewport.release()


def lower_thread_priority(nice: int) -> None:
    """Add ``nice`` to the calling thread's nice value (Linux, where it is per thread; else nothing).

    Threads the caller starts afterwards inherit it. Raising the value needs no privileges.
    """
    if nice and sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


@contextlib.contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """Run the enclosed torch work (the body model) on this thread alone.

    Body models run many small tensor ops. With the generator's threads holding both cores, a
    second OpenMP thread only adds barrier waits: an Anny pose update measured 100 ms with two
    threads and 0.9 ms with one on this kind of 2-core machine. With torch's OpenMP backend the
    thread count belongs to the calling OS thread, so a torch generator keeps its own.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


__all__ = ["RenderJob", "RenderSession", "RenderedFrame", "one_intra_op_thread"]
