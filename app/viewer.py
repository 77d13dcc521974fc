"""The UI loop: one ImGui frame, the controller's work, the viewport drawing, recording, pacing."""

from __future__ import annotations

import dataclasses
import time
from collections import deque

from imgui_bundle import imgui

from .automation import Automation
from .controller import Controller, save_png
from .damage import Box, ClipRects, DamageTracker, draw_list_signatures, to_gl_rect
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
from .viewport import image_rects
from .window import Window

#: Seconds between refreshes of the memory figures.
MEMORY_REFRESH_S = 1.0
#: Seconds between refreshes of the other figures (readable, and the panels showing them need not
#: be redrawn every frame).
STATS_REFRESH_S = 0.25
#: Frames drawn after the last activity before the loop sleeps until the next event.
SETTLE_FRAMES = 3
#: Longest sleep while idle (the stats line still refreshes this often).
IDLE_WAIT_S = 0.5
#: With partial redraws, the whole window is still redrawn this often (a safety net).
FULL_REDRAW_S = 2.0


def _box_of(rect: tuple[int, int, int, int], margin: float = 1.0) -> Box:
    """An (x, y, w, h) rectangle as a box, one unit wider on each side: centring a rectangle in the
    window (y down) and in GL pixels (y up) can round to rows one apart."""
    x, y, w, h = rect
    return x - margin, y - margin, x + w + margin, y + h + margin


class Viewer:
    """Runs the window until it is closed, a quit is requested or the automation is finished.

    Args:
        window: the open window (its context hosts the controller's GL objects).
        controller: what the frames drive.
        automation: command-line automation and measurements.
        max_fps: UI frame-rate cap.
        follow_frames: while the render worker is busy with the user's edits, draw once per
            finished neural frame instead of at the cap (see :mod:`.pacing`).
        partial_redraw: redraw and present only what changed since the last frame (see
            :mod:`.damage`); needs the window's :attr:`~.window.Window.sub_buffer_copy`.
    """

    def __init__(
        self,
        window: Window,
        controller: Controller,
        automation: Automation,
        max_fps: float = 60.0,
        follow_frames: bool = False,
        partial_redraw: bool = False,
    ) -> None:
        self.window, self.controller, self.automation = window, controller, automation
        self.period = 1.0 / max_fps
        self.follow_frames = follow_frames
        controller.state.stats.ui_pacing = "frames" if follow_frames else "cap"
        self.stop_requested = False  # set by signal handlers
        self._layout = DockLayout()
        self._ui_ms: deque[float] = deque(maxlen=60)
        self._last_start = time.perf_counter()
        self._last_memory = self._last_stats = 0.0
        self._settle = SETTLE_FRAMES  # frames still drawn after user input (at the cap or with the neural frames)
        self._pace = Pace.CAP
        if partial_redraw and window.sub_buffer_copy is None:
            raise ValueError("partial redraws need a window that can present part of its back buffer")
        self._damage = DamageTracker() if partial_redraw else None
        controller.state.stats.redraw = "changes only" if partial_redraw else "whole window"
        self._viewport_key: tuple | None = None
        self._viewport_boxes: list[Box] = []
        self._framebuffer_size = (0, 0)
        self._last_full = 0.0

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
        rect = self._gl_rect(state.viewport_rect)
        if self._damage is None:
            self.controller.draw_viewport(rect)
            self.window.render_imgui()
            self._capture()
            self.window.swap()
        else:
            self._redraw_changes(state, rect, start)
        self.controller.session.presented()  # latency: edit → the swap that puts its frame on screen
        self.window.collect_garbage()
        if not imgui.is_any_item_active() and state.drag_button is None:
            state.commit()  # a slider drag or a camera drag is one undo step
        self._update_stats(state, start)
        self._pace = self._next_pace(state, time.perf_counter())

    def _redraw_changes(self, state: AppState, rect: tuple[int, int, int, int], now: float) -> None:
        """Draw and present only the parts of the window that changed (see :mod:`.damage`)."""
        window, draw_data = self.window, imgui.get_draw_data()
        size, self._framebuffer_size = self._framebuffer_size, window.framebuffer_size
        if window.take_exposed() or size != window.framebuffer_size or now - self._last_full >= FULL_REDRAW_S:
            self._damage.invalidate()  # (a resized back buffer holds nothing worth keeping)
        viewport = self.controller.session.viewport
        key = (viewport.content_stamp, dataclasses.astuple(state.view), state.viewport_rect, viewport.image_size)
        changed: list[Box] = []
        if key != self._viewport_key:
            if key[1:] == (self._viewport_key or (None,))[1:]:  # a new image in the same place
                changed = self._viewport_boxes
            else:  # moved, resized or another view: clear where images were, draw where they are
                boxes = [_box_of(r) for r in image_rects(state.view, viewport.image_size, state.viewport_rect)]
                changed, self._viewport_boxes = self._viewport_boxes + boxes, boxes
            self._viewport_key = key
        boxes = self._damage.damage(draw_list_signatures(draw_data), changed)
        if boxes is None:
            self._last_full = now
            self.controller.draw_viewport(rect)
            window.render_imgui()
            self._capture()
            window.present()
            return
        scale = (draw_data.framebuffer_scale.x, draw_data.framebuffer_scale.y)
        regions = [(box, to_gl_rect(box, scale, window.framebuffer_size)) for box in boxes]
        regions = [(box, region) for box, region in regions if region[2] > 0 and region[3] > 0]
        clip = ClipRects(draw_data)
        for box, region in regions:
            self.controller.draw_viewport(rect, only=region)
            clip.narrow(box)
            window.render_imgui()
        self.controller.end_redraw()
        self._capture()
        for _, region in regions:
            window.present(region)

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
        if now - self._last_stats < STATS_REFRESH_S:
            return
        self._last_stats = now
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
