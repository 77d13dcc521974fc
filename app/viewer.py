"""The UI loop: one ImGui frame, the controller's work, the viewport drawing, recording, pacing."""

from __future__ import annotations

import time
from collections import deque

from imgui_bundle import imgui

from .automation import Automation
from .controller import Controller, save_png
from .layout import DockLayout, main_menu
from .pacing import FOLLOW_MAX_WAIT_S, LoopStatus, Pace, next_pace
from .panels.camera import camera_panel
from .panels.expression import expression_panel
from .panels.help import help_panel
from .panels.pose import pose_panel
from .panels.record import record_panel
from .panels.render import render_panel
from .panels.sequence import sequence_panel
from .panels.shape import shape_panel
from .panels.viewport import hud, messages, viewport_input
from .shortcuts import handle_shortcuts
from .state import AppState
from .sysinfo import gpu_memory, rss_mb
from .window import Window

#: Seconds between refreshes of the memory figures.
MEMORY_REFRESH_S = 1.0
#: Frames drawn after the last activity before the loop sleeps until the next event.
SETTLE_FRAMES = 3
#: Longest sleep while idle (the stats line still refreshes this often).
IDLE_WAIT_S = 0.5


class Viewer:
    """Runs the window until it is closed, a quit is requested or the automation is finished.

    Args:
        window: the open window (its context hosts the controller's GL objects).
        controller: what the frames drive.
        automation: command-line automation and measurements.
        max_fps: UI frame-rate cap.
        follow_frames: while the render worker is busy with the user's edits, draw once per
            finished neural frame instead of at the cap (see :mod:`.pacing`).
    """

    def __init__(
        self,
        window: Window,
        controller: Controller,
        automation: Automation,
        max_fps: float = 60.0,
        follow_frames: bool = False,
    ) -> None:
        self.window, self.controller, self.automation = window, controller, automation
        self.period = 1.0 / max_fps
        self.follow_frames = follow_frames
        controller.state.stats.ui_pacing = "frames" if follow_frames else "cap"
        self.stop_requested = False  # set by signal handlers
        self._layout = DockLayout()
        self._ui_ms: deque[float] = deque(maxlen=60)
        self._last_start = time.perf_counter()
        self._last_memory = 0.0
        self._settle = SETTLE_FRAMES  # frames still drawn after user input (at the cap or with the neural frames)
        self._pace = Pace.CAP

    def run(self) -> None:
        while not (self.stop_requested or self.window.should_close or self.controller.quit or self.automation.finished):
            self.frame()

    def frame(self) -> None:
        """One UI frame: events, panels, controller, drawing, recording, swap."""
        self._wait()
        self.window.begin_frame()
        start = time.perf_counter()
        dt, self._last_start = start - self._last_start, start
        state = self.controller.state
        self._build_ui(state)
        self.automation.before_update(state, start)
        self.controller.update(min(dt, 0.25))
        imgui.render()
        self.controller.draw_viewport(self._gl_rect(state.viewport_rect))
        self.window.render_imgui()
        self._capture()
        self.window.swap()
        self.controller.session.presented()  # latency: edit → the swap that puts its frame on screen
        self.window.collect_garbage()
        if not imgui.is_any_item_active() and state.drag_button is None:
            state.commit()  # a slider drag or a camera drag is one undo step
        self._update_stats(state, start)
        self._pace = self._next_pace(state, time.perf_counter())

    def _wait(self) -> None:
        """Wait for the next frame's time (see :mod:`.pacing`), processing window events meanwhile."""
        now = time.perf_counter()
        if self._pace is Pace.IDLE:  # any event, a finished frame, a signal or a timer ends the wait
            self.window.wait_events(min(IDLE_WAIT_S, self._next_timer(now)))
            return
        earliest = self._last_start + self.period
        deadline = earliest
        if self._pace is Pace.FOLLOW:
            deadline = max(earliest, min(self._last_start + FOLLOW_MAX_WAIT_S, now + self._next_timer(now)))
        worker = self.controller.session.worker
        while not (self.stop_requested or self.window.should_close):
            if self._pace is Pace.FOLLOW and (worker.has_result or worker.ready):  # woken by the worker
                deadline = earliest
            now = time.perf_counter()
            if now >= deadline:
                return
            self.window.wait_events(deadline - now)

    def _next_pace(self, state: AppState, now: float) -> Pace:
        """The pace of the next frame from this frame's input and the worker's state.

        A few frames after user input are always drawn, for ImGui's hover and release states;
        edits made meanwhile replace the waiting request (latest wins).
        """
        io = imgui.get_io()
        if io.mouse_delta.x or io.mouse_delta.y or io.mouse_wheel or any(io.mouse_down) or imgui.is_any_item_active():
            self._settle = SETTLE_FRAMES
        elif self._settle:
            self._settle -= 1
        controller = self.controller
        status = LoopStatus(
            interacting=bool(self._settle) or self.automation.editing,
            due=bool(state.actions) or controller.export is not None or self._next_timer(now) == 0.0,
            edited=state.params_dirty or state.camera_dirty,
            playing=state.sequence.playing,
            worker_ready=controller.session.worker.ready,
            follow_frames=self.follow_frames,
        )
        return next_pace(status)

    def _next_timer(self, now: float) -> float:
        """Seconds until the automation or the live recording needs a frame."""
        recorder = self.controller.recorder
        recording = recorder.seconds_until_due(now) if recorder is not None else IDLE_WAIT_S
        return min(self.automation.wait_time(now), recording)

    def _build_ui(self, state: AppState) -> None:
        state.viewport_rect = self._layout.begin()
        main_menu(state)
        panels = (
            ("Pose", pose_panel),
            ("Shape", shape_panel),
            ("Expression", expression_panel),
            ("Camera", camera_panel),
            ("Render", lambda s: render_panel(s, self.controller.session.gbuffer_planes)),
            ("Record", record_panel),
            ("Sequence", sequence_panel),
            ("Help", help_panel),
        )
        for name, panel in panels:
            if not state.panels[name]:
                continue
            expanded, state.panels[name] = self._layout.begin_panel(name)
            if expanded:
                panel(state)
            imgui.end()
        viewport_input(state)
        hud(state)
        messages(state)
        handle_shortcuts(state)

    def _gl_rect(self, rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """ImGui rectangle (top-left origin, window units) → GL viewport (bottom-left, pixels)."""
        io = imgui.get_io()
        sx, sy = io.display_framebuffer_scale.x, io.display_framebuffer_scale.y
        _, fb_height = self.window.framebuffer_size
        x, y, w, h = rect
        return int(x * sx), int(fb_height - (y + h) * sy), max(1, int(w * sx)), max(1, int(h * sy))

    def _capture(self) -> None:
        """Recording frames, window screenshots: after drawing, before the swap."""
        controller = self.controller
        controller.record_frame()
        self.automation.after_draw(self.window.read_screen)
        if controller.window_shot is not None:
            path, controller.window_shot = controller.window_shot, None
            try:
                save_png(self.window.read_screen(), path)
                controller.state.record.last_output = str(path)
                controller.state.notify(f"saved {path}")
            except OSError as exc:
                controller.state.notify(f"cannot save {path}: {exc.strerror or exc}", error=True)

    def _update_stats(self, state: AppState, start: float) -> None:
        now = time.perf_counter()
        ms = (now - start) * 1000.0
        self._ui_ms.append(ms)
        self.automation.record_ui_time(ms)
        session, stats = self.controller.session, state.stats
        times = session.times
        stats.ui_frame_ms = sum(self._ui_ms) / len(self._ui_ms)
        stats.neural_fps = session.worker.frames_per_second()
        overlapped = "overlapped" if session.worker.overlap else "in turn"
        stats.stages = f"{overlapped} ({session.options.overlap})"
        stats.latency_ms, stats.generator_ms = session.latency_ms, times.generator_ms
        stats.body_ms, stats.raster_ms = times.body_ms, times.raster_ms
        stats.resolution = (session.pipeline.width, session.pipeline.height)
        if now - self._last_memory > MEMORY_REFRESH_S:
            self._last_memory = now
            info = session.pipeline.runtime.describe()
            stats.backend = f"{info.backend} {info.precision} on {info.device}" + (
                f" ({info.detail})" if info.detail else ""
            )
            stats.rss_mb = rss_mb()
            stats.gpu_mem = gpu_memory(info.device)


__all__ = ["Viewer"]
