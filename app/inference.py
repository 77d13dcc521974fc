"""Rendering off the UI thread: a worker with a one-slot, latest-request-wins queue.

The UI thread :meth:`InferenceWorker.submit`\\ s what it wants rendered; a request still waiting
when a newer one arrives is dropped unrun (latest wins). The worker publishes each finished job
with its request id and timestamps, and :meth:`InferenceWorker.poll` hands the UI the newest
finished result only: a result older than one already shown is stale and is dropped. At most one
request runs and one waits, so an edit reaches the screen within two worker periods.

The worker is generic: the viewer runs the whole pipeline on it (pose → rasterize in the
worker's own headless GL context → generate, see :mod:`.session`). ``start`` and ``stop`` run on
the worker thread, for resources that belong to it (a GL context is current in one thread).

GPU runtimes run on this thread too: they enqueue on their device (TensorRT on its own CUDA
stream) and synchronize before returning, so the UI thread never waits on the device either.
The viewer itself has not been run on a GPU machine; the pipeline's CUDA backends it calls have
(docs/GPU.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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


class InferenceWorker:
    """Runs ``run(job)`` on a background thread, newest request first.

    Args:
        run: job → output; called on the worker thread only.
        on_result: called on the worker thread after each finished request (e.g. to wake the UI loop).
        start: called first on the worker thread (e.g. to create resources it owns); an exception
            ends the worker and is raised again by :meth:`wait_started`.
        stop: called last on the worker thread, also after a failed ``start``.
        name: thread name (shows up in profilers).
    """

    def __init__(
        self,
        run: Callable[[Any], Any],
        on_result: Callable[[], None] | None = None,
        start: Callable[[], None] | None = None,
        stop: Callable[[], None] | None = None,
        name: str = "smplpix-render",
    ) -> None:
        self._job_runner, self._on_result, self._start, self._stop = run, on_result, start, stop
        self._cond = threading.Condition()
        self._pending: _Request | None = None
        self._running: _Request | None = None
        self._result: InferenceResult | None = None
        self._shown_id = 0
        self._next_id = 1
        self._closed = False
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._done_times: deque[float] = deque(maxlen=32)
        self.dropped_requests = 0
        self.completed = 0
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

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
        with self._cond:
            result, self._result = self._result, None
        if result is None or result.request_id <= self._shown_id:
            return None
        self._shown_id = result.request_id
        return result

    def wait(self, timeout: float | None = None) -> InferenceResult | None:
        """Block until the newest submitted request is finished, then :meth:`poll` (scripts and tests)."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while self._pending is not None or self._running is not None:
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
        return self.poll()

    @property
    def idle(self) -> bool:
        """Nothing is running or waiting."""
        with self._cond:
            return self._pending is None and self._running is None

    @property
    def has_result(self) -> bool:
        """A finished result is waiting for :meth:`poll`."""
        with self._cond:
            return self._result is not None and self._result.request_id > self._shown_id

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
        """Drop waiting work, let the running request finish, run ``stop`` and end the thread. Idempotent."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> _Request | None:
        with self._cond:
            while self._pending is None and not self._closed:
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
                self._serve()
        finally:
            if self._stop is not None:
                self._stop()

    def _serve(self) -> None:
        while (request := self._take()) is not None:
            start = time.perf_counter()
            output, error = None, None
            try:
                output = self._job_runner(request.job)
            except Exception as exc:  # shown in the window; the worker keeps serving
                error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            done = time.perf_counter()
            result = InferenceResult(
                request.request_id, output, error, request.edit_time, request.submit_time, start, done, request.tag
            )
            with self._cond:
                self._running = None
                self._result = result
                self.completed += 1
                self._done_times.append(done)
                self._cond.notify_all()
            if self._on_result is not None:
                self._on_result()


__all__ = ["InferenceResult", "InferenceWorker"]
