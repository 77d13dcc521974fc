"""Command-line automation for scripted captures and measurements.

All timers start when the viewer is *ready*: the first avatar frame is on screen (with
``--sequence``, the first frame of the sequence, loaded as soon as the viewer shows anything). Then
``--record`` starts, ``--exit-after`` counts, ``--screenshot`` waits a few frames for the layout
to settle (and ``--screenshot-delay`` seconds, if given), and ``--script-random-edits`` makes one
random edit per UI frame (pose, and every few frames shape and camera) to measure frame times,
neural frame rate, latency and memory growth, written with ``--stats-json``. The scripted edits
stand for a continuous drag: the UI loop paces them like user input. Latency counts from the frame
that makes an edit; during a real drag the mouse input waits up to one UI frame interval
(``edit_interval_ms_median``) before that frame.

With ``--measure-alone-every N`` the scripted edits pause every N edits (and before the first)
while the render worker alone renders ``ALONE_FRAMES`` random states back to back
(:meth:`.session.RenderSession.time_alone`). Each stretch of edits is then rated against the
mean of the two timings around it, seconds apart in the same process, so the machine's drift
over minutes cancels out of ``neural_fps_share_of_alone``. The pauses count in neither the
neural frame rate nor the UI frame times.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .controller import Controller, save_png
from .state import AppState
from .sysinfo import rss_mb

#: UI frames between "ready" and the --screenshot capture (docking and fonts settle in 2-3 frames).
SCREENSHOT_SETTLE_FRAMES = 8
#: Frames of each timing of the render worker alone (--measure-alone-every).
ALONE_FRAMES = 60


@dataclass(frozen=True)
class AutomationOptions:
    """What the command line asked for (all optional)."""

    record: Path | None = None
    exit_after: float | None = None
    screenshot: Path | None = None
    screenshot_delay: float = 0.0
    random_edits: int = 0
    measure_alone_every: int = 0
    stats_json: Path | None = None
    sequence: str | None = None
    seed: int = 0


class Automation:
    """Drives the viewer from the command-line options and collects the measurements."""

    def __init__(self, options: AutomationOptions, controller: Controller) -> None:
        self.options = options
        self.controller = controller
        self.ready_time: float | None = None
        self._ready_frame = 0
        self._sequence_from: int | None = None  # frames shown when --sequence was loaded
        self._frame = 0
        self._edits_done = 0
        self._last_edit = 0.0
        self._intervals_ms: list[float] = []  # between scripted edits (= UI frames while editing)
        self._rng = np.random.default_rng(options.seed)
        self._ui_ms: list[float] = []
        self._rss_ready = 0.0
        self._rss_warm: float | None = None
        self._rss_samples: list[float] = []  # every 1000 scripted edits
        self._completed_at_ready = 0
        self._alone_rng = np.random.default_rng(options.seed + 1)
        self._alone_fps: list[float] = []  # the render worker alone, one per pause
        self._stretch_fps: list[float] = []  # neural fps of each stretch of edits between two pauses
        self._stretch_start: tuple[float, int] | None = None  # (time, completed frames)
        self._paused_s = 0.0  # spent in the pauses
        self._paused_frames = 0
        self._skip_ui_time = False
        self.finished = False
        self.screenshot_due = False
        self._screenshot_taken = False

    def wait_time(self, now: float) -> float:
        """Seconds until the automation needs the next UI frame (0: now, inf: never)."""
        o = self.options
        if self.finished or not (o.record or o.exit_after or o.screenshot or o.random_edits or o.sequence):
            return math.inf
        if self.ready_time is None:
            return math.inf  # the first finished frame wakes the loop
        wait = math.inf
        if self.screenshot_pending:
            if self._frame - self._ready_frame < SCREENSHOT_SETTLE_FRAMES:
                return 0.0
            wait = max(0.0, self.ready_time + o.screenshot_delay - now)
        if o.exit_after is not None:
            wait = min(wait, max(0.0, self.ready_time + o.exit_after - now))
        return wait

    @property
    def editing(self) -> bool:
        """Scripted random edits are running: the loop paces them like a user's drag (one per frame)."""
        return self.ready_time is not None and not self.finished and self._edits_done < self.options.random_edits

    @property
    def screenshot_pending(self) -> bool:
        """A --screenshot is still to be taken."""
        return self.options.screenshot is not None and not self._screenshot_taken

    def before_update(self, state: AppState, now: float) -> None:
        """Called every frame before the controller runs: readiness, scripted edits."""
        self._frame += 1
        if self.ready_time is None:
            shown = self.controller.session.frames_shown
            if shown and self.options.sequence and self._sequence_from is None:
                self.controller.state.sequence.path = self.options.sequence
                self.controller.load_sequence()
                self._sequence_from = shown
            elif shown > (self._sequence_from or 0):  # the first frame (of the sequence) is on screen
                self._on_ready(now)
            return
        if self._edits_done < self.options.random_edits:
            every = self.options.measure_alone_every
            if every and self._edits_done % every == 0:
                now = self._time_alone(state, now)
            elif self._edits_done:
                self._intervals_ms.append((now - self._last_edit) * 1000.0)
            self._last_edit = now
            self._random_edit(state, now)
            self._edits_done += 1
            if self._edits_done == min(1000, self.options.random_edits // 10 or 1):
                self._rss_warm = rss_mb()
            if self._edits_done % 1000 == 0:
                self._rss_samples.append(_round(rss_mb()))
        elif self.options.random_edits and not self.finished:
            if self.options.measure_alone_every:
                self._time_alone(state, now)  # the last stretch's closing timing
            self.finished = True
        settled = self._frame - self._ready_frame >= SCREENSHOT_SETTLE_FRAMES
        if self.screenshot_pending and settled and now - self.ready_time >= self.options.screenshot_delay:
            self.screenshot_due = True
        if self.options.exit_after is not None and now - self.ready_time >= self.options.exit_after:
            self.finished = True

    def _on_ready(self, now: float) -> None:
        self.ready_time, self._ready_frame = now, self._frame
        self._rss_ready = rss_mb()
        self._completed_at_ready = self.controller.session.worker.completed
        if self.options.record is not None:
            self.controller.start_recording(self.options.record, start=now)  # --exit-after counts from here too

    def _random_edit(self, state: AppState, now: float) -> None:
        params, camera = _random_state(state, self._rng, self._edits_done)
        state.edit(params=params, now=now)
        if camera is not None:
            state.edit_camera(yaw_deg=camera)

    def _time_alone(self, state: AppState, now: float) -> float:
        """Close the stretch of edits, time the render worker alone; returns the time afterwards."""
        session = self.controller.session
        worker = session.worker
        if self._stretch_start is not None:
            start, completed = self._stretch_start
            self._stretch_fps.append((worker.completed - completed) / (now - start))
        from smplpix_rt.body.poses import random_edit_sequence

        states = random_edit_sequence(  # edits that follow each other, as the script's do
            state.spec, state.params, state.neutral.shape, state.camera, self._alone_rng, ALONE_FRAMES
        )
        jobs = [session.job(params, orbit) for params, orbit in states]
        before = worker.completed
        self._alone_fps.append(session.time_alone(jobs))
        after = time.perf_counter()
        self._paused_s += after - now
        self._paused_frames += worker.completed - before
        self._stretch_start = (after, worker.completed)
        self._skip_ui_time = True
        return after

    def after_draw(self, read_window) -> None:
        """Called after the frame is drawn, before the swap: the --screenshot capture."""
        if self.screenshot_due:
            self.screenshot_due, self._screenshot_taken = False, True
            save_png(read_window(), self.options.screenshot)

    def record_ui_time(self, ms: float) -> None:
        if self._skip_ui_time:  # the frame held a timing of the worker alone
            self._skip_ui_time = False
        elif self.ready_time is not None:
            self._ui_ms.append(ms)

    def report(self) -> dict:
        """The measurements of the run (UI frame times, neural fps, latency, memory)."""
        session = self.controller.session
        now = time.perf_counter()
        elapsed = now - self.ready_time - self._paused_s if self.ready_time is not None else 0.0
        frames = session.worker.completed - self._completed_at_ready - self._paused_frames
        latencies = list(session.latencies)
        rss_end = rss_mb()
        base = self._rss_warm or self._rss_ready
        info = session.pipeline.runtime.describe()
        return {
            "backend": info.backend,
            "precision": info.precision,
            "size": [session.pipeline.width, session.pipeline.height],
            "ui_frames": len(self._ui_ms),
            "ui_frame_ms_median": _round(statistics.median(self._ui_ms)) if self._ui_ms else None,
            "ui_frame_ms_p95": _round(float(np.percentile(self._ui_ms, 95))) if self._ui_ms else None,
            "edits": self._edits_done,
            "edit_interval_ms_median": _round(statistics.median(self._intervals_ms)) if self._intervals_ms else None,
            "neural_frames": frames,
            "neural_fps": _round(frames / elapsed) if elapsed else None,
            "body_ms": _round(session.times.body_ms),
            "raster_ms": _round(session.times.raster_ms),
            "generator_ms": _round(session.times.generator_ms),
            "latency_ms_median": _round(statistics.median(latencies)) if latencies else None,
            "latency_ms_p95": _round(float(np.percentile(latencies, 95))) if latencies else None,
            "rss_mb_ready": _round(self._rss_ready),
            "rss_mb_after_warmup": _round(base),
            "rss_mb_end": _round(rss_end),
            "rss_growth_percent": _round(100.0 * (rss_end - base) / base) if base else None,
            "rss_mb_every_1000_edits": self._rss_samples,
            "seconds": _round(elapsed),
            **self._alone_report(),
        }

    def _alone_report(self) -> dict:
        """The --measure-alone-every figures: each stretch's neural fps over the worker's alone."""
        if not self._alone_fps:
            return {}
        alone, stretches = self._alone_fps, self._stretch_fps
        shares = [fps / ((alone[i] + alone[i + 1]) / 2) for i, fps in enumerate(stretches) if i + 1 < len(alone)]
        return {
            "alone_fps": [_round(v) for v in alone],
            "stretch_fps": [_round(v) for v in stretches],
            "neural_fps_share_of_alone": round(statistics.median(shares), 3) if shares else None,
            "share_of_alone_per_stretch": [round(v, 3) for v in shares],
        }

    def write_report(self) -> None:
        if self.options.stats_json is not None:
            Path(self.options.stats_json).write_text(json.dumps(self.report(), indent=2) + "\n", encoding="utf-8")


def _random_state(state: AppState, rng: np.random.Generator, index: int):
    """Scripted edit number ``index`` of the state (see :func:`smplpix_rt.body.poses.random_edit`)."""
    from smplpix_rt.body.poses import random_edit

    return random_edit(state.spec, state.params, state.neutral.shape, rng, index)


def _round(value: float) -> float:
    return round(float(value), 2)


__all__ = ["Automation", "AutomationOptions", "SCREENSHOT_SETTLE_FRAMES"]
