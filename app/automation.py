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
from .panels.shape import random_shape
from .state import AppState
from .sysinfo import rss_mb

#: UI frames between "ready" and the --screenshot capture (docking and fonts settle in 2-3 frames).
SCREENSHOT_SETTLE_FRAMES = 8


@dataclass(frozen=True)
class AutomationOptions:
    """What the command line asked for (all optional)."""

    record: Path | None = None
    exit_after: float | None = None
    screenshot: Path | None = None
    screenshot_delay: float = 0.0
    random_edits: int = 0
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
            if self._edits_done:
                self._intervals_ms.append((now - self._last_edit) * 1000.0)
            self._last_edit = now
            self._random_edit(state, now)
            self._edits_done += 1
            if self._edits_done == min(1000, self.options.random_edits // 10 or 1):
                self._rss_warm = rss_mb()
            if self._edits_done % 1000 == 0:
                self._rss_samples.append(_round(rss_mb()))
        elif self.options.random_edits and not self.finished:
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
        from smplpix_rt.body.poses import random_pose

        params = state.params
        pose = random_pose(state.spec, self._rng, scale=0.35)
        pose[0] = params.pose[0]  # keep the body's orientation
        changes = {"pose": pose}
        if self._edits_done % 7 == 0:
            changes["shape"] = random_shape(state, self._rng)
        state.edit(params=params.replace(**changes), now=now)
        if self._edits_done % 11 == 0:
            state.edit_camera(yaw_deg=float(self._rng.uniform(-60, 60)))

    def after_draw(self, read_window) -> None:
        """Called after the frame is drawn, before the swap: the --screenshot capture."""
        if self.screenshot_due:
            self.screenshot_due, self._screenshot_taken = False, True
            save_png(read_window(), self.options.screenshot)

    def record_ui_time(self, ms: float) -> None:
        if self.ready_time is not None:
            self._ui_ms.append(ms)

    def report(self) -> dict:
        """The measurements of the run (UI frame times, neural fps, latency, memory)."""
        session = self.controller.session
        now = time.perf_counter()
        elapsed = now - self.ready_time if self.ready_time is not None else 0.0
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
            "neural_frames": session.worker.completed - self._completed_at_ready,
            "neural_fps": _round((session.worker.completed - self._completed_at_ready) / elapsed) if elapsed else None,
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
        }

    def write_report(self) -> None:
        if self.options.stats_json is not None:
            Path(self.options.stats_json).write_text(json.dumps(self.report(), indent=2) + "\n", encoding="utf-8")


def _round(value: float) -> float:
    return round(float(value), 2)


__all__ = ["Automation", "AutomationOptions", "SCREENSHOT_SETTLE_FRAMES"]
