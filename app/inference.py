"""Rendering off the UI thread: a worker with a one-slot, latest-request-wins queue.

The UI thread :meth:`InferenceWorker.submit`\\ s what it wants rendered; a request still waiting
when a newer one arrives is dropped unrun (latest wins). The worker publishes each finished job
with its request id and timestamps, and :meth:`InferenceWorker.poll` hands the UI the newest
finished result only: a result older than one already shown is stale and is dropped.

A job runs in one or two stages. With ``finish`` given, ``run`` (e.g. pose and rasterize, on the
thread that owns the GL context) and ``finish`` (e.g. the generator) run on two threads, so the
first stage of one request overlaps the second stage of the one before: on a 2-core CPU the
single-threaded raster work then fills the time the generator's threads leave free. The first
stage takes a request only once the second stage has taken the one before, so at most one
request waits, one is in each stage, and an edit reaches the screen within about two
generator periods.

The worker is generic: the viewer runs the whole pipeline on it (pose → rasterize in the
worker's own headless GL context → generate, see :mod:`.session`). ``start`` and ``stop`` run on
the first stage's thread, for resources that belong to it (a GL context is current in one
thread); ``stop`` runs after the second stage's thread has ended.

GPU runtimes run on the second stage's thread: they enqueue on their device (TensorRT on its
own CUDA stream) and synchronize before returning, so the UI thread never waits on the device
either. The viewer itself has not been run on a GPU machine; the pipeline's CUDA backends it
calls have (docs/GPU.md).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Finished results kept for :meth:`InferenceWorker.poll_all` when nobody collects them.
MAX_KEPT_RESULTS = 8


@dataclass(frozen=True)
class InferenceResult:
    """One finished (or failed) job.

    Attributes:
        request_id: the id :meth:`InferenceWorker.submit` returned for the request.
        output: what the worker's ``run`` returned; None if it failed.
        error: one line describing the failure, or None.
        edit_time: ``perf_counter`` time of the oldest edit the request shows.
        submit_time: when the request was submitted.
        start_time, done_time: when the worker started and finished it.
        tag: the caller's value passed through unchanged (e.g. the index of an exported frame).
    """

    request_id: int
    output: Any
    error: str | None
    edit_time: float
    submit_time: float
    start_time: float
    done_time: float
    tag: object = None

    @property
    def latency_ms(self) -> float:
        """Edit → finished frame, milliseconds."""
        return (self.done_time - self.edit_time) * 1000.0

    @property
    def run_ms(self) -> float:
        """Time the job itself took, milliseconds."""
        return (self.done_time - self.start_time) * 1000.0


@dataclass(frozen=True)
class _Request:
    request_id: int
    job: Any
    edit_time: float
    submit_time: float
    tag: object


@dataclass(frozen=True)
class _Handoff:
    request: _Request
    partial: Any
    start_time: float


class InferenceWorker:
    """Runs ``run(job)`` (then ``finish(...)``, if given) on background threads, newest request first.

    Args:
        run: job → output (or, with ``finish``, job → what ``finish`` takes); called on the
            worker thread only.
        on_result: called after each finished request, on the thread that finished it, and, while
            the stages overlap, also when the first stage has handed a request on and is free
            (e.g. to wake the UI loop, see :attr:`ready`).
        start: called first on the worker thread (e.g. to create resources it owns); an exception
            ends the worker and is raised again by :meth:`wait_started`.
        stop: called last on the worker thread, also after a failed ``start``, once the second
            stage has ended.
        name: thread name (shows up in profilers); the second stage's thread adds ``-finish``.
        finish: the second stage, called on a thread of its own with what ``run`` returned; None
            runs each job in one stage.
        overlap: with ``finish``, whether the first stage may start on a request while the second
            stage still runs the one before (see :attr:`overlap`).
    """

    def __init__(
        self,
        run: Callable[[Any], Any],
        on_result: Callable[[], None] | None = None,
        start: Callable[[], None] | None = None,
        stop: Callable[[], None] | None = None,
        name: str = "smplpix-render",
        finish: Callable[[Any], Any] | None = None,
        overlap: bool = True,
    ) -> None:
        self._job_runner, self._finisher, self._on_result = run, finish, on_result
        self._start, self._stop = start, stop
        self._cond = threading.Condition()
        self._pending: _Request | None = None
        self._running: _Request | None = None  # in the first stage
        self._handoff: _Handoff | None = None  # between the stages
        self._finishing: _Request | None = None  # in the second stage
        self._results: list[InferenceResult] = []  # finished, not handed out yet, by request id
        self._shown_id = 0
        self._next_id = 1
        self._closed = False
        self._overlap = overlap
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._done_times: deque[float] = deque(maxlen=32)
        self.dropped_requests = 0
        self.completed = 0
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._finish_thread = (
            None if finish is None else threading.Thread(target=self._serve_finish, name=f"{name}-finish", daemon=True)
        )
        self._thread.start()

    @property
    def overlap(self) -> bool:
        """With two stages: the first may start on a request while the second runs the one before.

        Overlapping raises the frame rate (the stages run side by side) and lengthens each frame's
        latency (they share the cores); without it a request waits until the previous one is done.
        Can be switched at any time, e.g. on for sequence playback and off while the user edits.
        """
        return self._overlap and self._finisher is not None

    @overlap.setter
    def overlap(self, value: bool) -> None:
        with self._cond:
            if value != self._overlap:
                self._overlap = value
                self._cond.notify_all()

    def wait_started(self, timeout: float | None = None) -> None:
        """Block until ``start`` has run; raise its exception if it failed."""
        if not self._started.wait(timeout):
            raise TimeoutError("the render worker did not start in time")
        if self._start_error is not None:
            raise self._start_error

    def submit(self, job: Any, edit_time: float | None = None, tag: object = None) -> int:
        """Queue a job; a request still waiting is replaced. Returns the new request id.

        Args:
            job: what ``run`` receives.
            edit_time: ``perf_counter`` time of the oldest edit this job shows (default: now).
                A replaced request's edit time carries over, so latencies count from the first
                edit not yet on screen.
            tag: any value, returned with the result.
        """
        now = time.perf_counter()
        with self._cond:
            if self._closed:
                raise RuntimeError("the render worker is closed")
            edit_time = now if edit_time is None else edit_time
            if self._pending is not None:  # replaced unrun: its edit is shown by this request's frame
                self.dropped_requests += 1
                edit_time = min(edit_time, self._pending.edit_time)
            request_id = self._next_id
            self._next_id += 1
            self._pending = _Request(request_id, job, edit_time, now, tag)
            self._cond.notify_all()
        return request_id

    def poll(self) -> InferenceResult | None:
        """The newest finished result not handed out yet, or None (stale results are dropped)."""
        results = self.poll_all()
        return results[-1] if results else None

    def poll_all(self) -> list[InferenceResult]:
        """Every finished result not handed out yet, oldest first (an offline render needs each one).

        With overlapping stages two requests can finish between two calls; :meth:`poll` keeps only
        the newer, this keeps both.
        """
        with self._cond:
            results, self._results = self._results, []
        results = [r for r in results if r.request_id > self._shown_id]
        if results:
            self._shown_id = results[-1].request_id
        return results

    def wait(self, timeout: float | None = None) -> InferenceResult | None:
        """Block until every submitted request is finished, then :meth:`poll` (scripts and tests)."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while not self._idle_locked():
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
        return self.poll()

    def _idle_locked(self) -> bool:
        return self._pending is None and self._running is None and self._handoff is None and self._finishing is None

    @property
    def idle(self) -> bool:
        """Nothing is running or waiting."""
        with self._cond:
            return self._idle_locked()

    @property
    def ready(self) -> bool:
        """A request submitted now would start at once: nothing waits and the first stage is free."""
        with self._cond:
            return self._pending is None and not self._first_stage_busy()

    def _first_stage_busy(self) -> bool:
        busy = self._running is not None or self._handoff is not None
        return busy or (not self._overlap and self._finishing is not None)

    @property
    def has_result(self) -> bool:
        """A finished result is waiting for :meth:`poll`."""
        with self._cond:
            return any(r.request_id > self._shown_id for r in self._results)

    @property
    def has_pending(self) -> bool:
        """A request is waiting for the worker (the next submit would replace it)."""
        with self._cond:
            return self._pending is not None

    def frames_per_second(self) -> float:
        """Finished jobs per second over the recent busy stretch (0 when idle for a while)."""
        with self._cond:
            times = list(self._done_times)
        if len(times) < 2 or time.perf_counter() - times[-1] > 1.0:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    def close(self, timeout: float = 30.0) -> None:
        """Drop waiting work, let the running stages finish, run ``stop`` and end the threads. Idempotent."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._handoff = None
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> _Request | None:
        with self._cond:
            # With two stages, take a request only once the second stage has taken the previous
            # one (without overlap: has finished it): the newest edit then goes into the first
            # stage, not an older one into the slot.
            while (self._pending is None or self._first_stage_busy()) and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            request, self._pending = self._pending, None
            self._running = request
            return request

    def _main(self) -> None:
        try:
            if self._start is not None:
                self._start()
        except BaseException as exc:  # raised again on the caller's thread by wait_started()
            self._start_error = exc
        self._started.set()
        try:
            if self._start_error is None:
                if self._finish_thread is not None:
                    self._finish_thread.start()
                self._serve()
        finally:
            if self._finish_thread is not None and self._finish_thread.is_alive():
                with self._cond:  # also when the first stage ended without close()
                    self._closed = True
                    self._cond.notify_all()
                self._finish_thread.join()  # its stage may use what ``stop`` releases
            if self._stop is not None:
                self._stop()

    def _serve(self) -> None:
        while (request := self._take()) is not None:
            start = time.perf_counter()
            output, error = _call(self._job_runner, request.job)
            if self._finisher is not None and error is None:
                with self._cond:
                    self._running = None
                    if not self._closed:
                        self._handoff = _Handoff(request, output, start)
                    self._cond.notify_all()
            else:
                self._publish(request, output, error, start)

    def _serve_finish(self) -> None:
        while True:
            with self._cond:
                while self._handoff is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                item, self._handoff = self._handoff, None
                self._finishing = item.request
                freed = self._overlap  # the first stage can take the next request now
                self._cond.notify_all()
            if freed and self._on_result is not None:  # ready for the next edit: wake the UI
                self._on_result()
            output, error = _call(self._finisher, item.partial)
            self._publish(item.request, output, error, item.start_time)

    def _publish(self, request: _Request, output: Any, error: str | None, start: float) -> None:
        done = time.perf_counter()
        result = InferenceResult(
            request.request_id, output, error, request.edit_time, request.submit_time, start, done, request.tag
        )
        with self._cond:
            if self._running is request:
                self._running = None
            if self._finishing is request:
                self._finishing = None
            # in request order: a first-stage failure may be published before an older request finishes
            bisect.insort(self._results, result, key=lambda r: r.request_id)
            del self._results[:-MAX_KEPT_RESULTS]
            self.completed += 1
            self._done_times.append(done)
            self._cond.notify_all()
        if self._on_result is not None:
            self._on_result()


def _call(fn: Callable[[Any], Any], arg: Any) -> tuple[Any, str | None]:
    """``fn(arg)`` and no error, or None and the exception as one line (shown in the window)."""
    try:
        return fn(arg), None
    except Exception as exc:  # the worker keeps serving
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


__all__ = ["InferenceResult", "InferenceWorker"]
