"""Rendering a pose sequence to video at a fixed time step, without blocking the UI.

Frame ``i`` always shows time ``i / fps`` of the sequence, whatever the wall clock does, so the
same inputs give the same video. Each UI frame the loop calls :meth:`SequenceExport.step`:
finished frames are collected in order and the next ones are submitted to the render worker,
up to two at a time (with overlapping stages one is generated while the next is rasterized);
finished frames go to a :class:`~smplpix_viewer.recorder.VideoRecorder` whose thread encodes
them. Cancel deletes the partial file.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from smplpix_rt.contracts import BodyParams
from smplpix_rt.errors import InputError

from .inference import InferenceWorker
from .recorder import VideoRecorder

#: Frames of an export submitted to the render worker and not written yet, at most.
IN_FLIGHT = 2


def export_frame_times(duration_s: float, fps: float) -> np.ndarray:
    """Times of the exported frames: ``i / fps`` for every ``i`` with ``i / fps <= duration_s``."""
    if not (fps > 0 and math.isfinite(duration_s) and duration_s >= 0):
        raise InputError(f"cannot export a sequence of {duration_s} s at {fps} fps")
    count = int(math.floor(duration_s * fps + 1e-6)) + 1
    return np.arange(count, dtype=np.float64) / fps


class SequenceExport:
    """One offline render of a sequence into a video file.

    Args:
        path: output video file.
        params_at: sequence time (s) → body parameters.
        duration_s: length of the sequence.
        fps: the fixed time step, frames per second.
        make_job: body parameters → render job (the camera is fixed for the whole render).
        size: (width, height) of the rendered frames.
        worker: the render worker (used exclusively while the export runs); its results' ``output``
            has an ``image`` (H, W, 3) uint8.
        crf: x264 quality.

    Raises:
        InputError: the output cannot be written or the settings are invalid.
    """

    def __init__(
        self,
        path: str | Path,
        params_at: Callable[[float], BodyParams],
        duration_s: float,
        fps: float,
        make_job: Callable[[BodyParams], object],
        size: tuple[int, int],
        worker: InferenceWorker,
        crf: int = 20,
    ) -> None:
        self.times = export_frame_times(duration_s, fps)
        self._params_at, self._make_job, self._worker = params_at, make_job, worker
        self._recorder = VideoRecorder(path, fps, size[0], size[1], crf=crf)
        self.path = self._recorder.path
        self._next = 0  # next frame index to submit
        self._in_flight: deque[int] = deque()  # submitted, not yet written, in order
        self._written = 0
        self.error: str | None = None
        self.last_output: object | None = None  # the newest finished frame, for a preview

    @property
    def total(self) -> int:
        return len(self.times)

    @property
    def progress(self) -> float:
        """Fraction of frames encoded, in [0, 1]."""
        return self._written / self.total

    @property
    def done(self) -> bool:
        return self._written == self.total or self.error is not None

    def step(self) -> None:
        """Advance without waiting: write the finished frames, submit the next ones."""
        if self.done:
            return
        for result in self._worker.poll_all():
            if not self._in_flight or result.tag != self._in_flight[0]:
                continue  # e.g. an interactive frame still running when the export started
            if result.error is not None:
                self.error = f"rendering frame {result.tag} failed: {result.error}"
                return
            self._recorder.write(result.output.image)
            self.last_output = result.output
            self._written += 1
            self._in_flight.popleft()
            if self._recorder.error:
                self.error = self._recorder.error
                return
        # Submit only when the worker can start at once: a waiting request would be replaced.
        while len(self._in_flight) < IN_FLIGHT and self._next < self.total and self._worker.ready:
            params = self._params_at(float(self.times[self._next]))
            self._worker.submit(self._make_job(params), tag=self._next)
            self._in_flight.append(self._next)
            self._next += 1

    def finish(self) -> Path | None:
        """Finalize the video (after :attr:`done`); returns the file, or None if it holds no frame."""
        return self._recorder.stop()

    def cancel(self) -> None:
        """Stop and delete the partial output."""
        self._recorder.abort()


__all__ = ["SequenceExport", "export_frame_times"]
