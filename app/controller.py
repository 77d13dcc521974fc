"""The loop's work between UI frames: queued actions, playback, export, recording and rendering.

:class:`Controller` owns everything that is not UI: the :class:`RenderSession` (pipeline, worker,
viewport renderer), the live :class:`VideoRecorder`, a running :class:`SequenceExport` and the
loaded sequence. Errors a user can cause (a bad path, a full disk, a model that does not load) end
up as messages in the window; the viewer keeps running.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from smplpix_rt.errors import SmplpixError
from smplpix_rt.pipeline import PipelineConfig
from smplpix_rt.state import load_state, save_state

from .export import SequenceExport
from .recorder import VideoRecorder
from .sequences import LoadedSequence, load_sequence_file
from .session import RenderSession
from .state import Action, AppState
from .viewport import PANEL_BACKGROUND, Rect


class Controller:
    """Carries out the state's requests once per UI frame.

    Args:
        state: the app state (replaced when a model for another body model is loaded).
        session: the render session of the model in use.
        config: the configuration the session's pipeline was opened with (reloads start from it).
    """

    def __init__(self, state: AppState, session: RenderSession, config: PipelineConfig) -> None:
        self.state = state
        self.session = session
        self.config = config
        self.recorder: VideoRecorder | None = None
        self.export: SequenceExport | None = None
        self.sequence: LoadedSequence | None = None
        self.window_shot: Path | None = None  # the loop saves the whole window there after drawing
        self.quit = False
        self._shown_time = -1.0  # sequence time of the pose last put into the state

    # ------------------------------------------------------------------------------ per frame

    def update(self, dt: float) -> bool:
        """Actions, playback, export and rendering for one UI frame; True if a new frame is shown."""
        state = self.state
        for action in list(state.actions):
            self._run_action(action)
        state.actions.clear()
        self._advance_playback(dt)
        if self.export is not None:
            self._step_export()
        shown = self.session.update(state) is not None
        self._refresh_record_state()
        return shown

    def draw_viewport(self, rect: Rect, only: Rect | None = None) -> None:
        """Clear the screen to the panel colour and draw the view into ``rect`` (GL coordinates).

        Docked panels are drawn without a background of their own (see ``DockLayout.begin_panel``):
        this clear is it. With ``only``, nothing outside that rectangle is touched, and it stays
        the screen's scissor box (for the ImGui drawing that follows) until :meth:`end_redraw`.
        """
        screen = self.session.viewport.ctx.screen
        screen.use()
        screen.scissor = only
        screen.clear(*PANEL_BACKGROUND, 1.0, viewport=only)
        self.session.viewport.draw(self.state.view, rect)

    def end_redraw(self) -> None:
        """Drop the scissor box :meth:`draw_viewport` left on the screen."""
        self.session.viewport.ctx.screen.scissor = None

    def record_frame(self, now: float | None = None) -> None:
        """Feed the live recording: the view at the fixed output size, as often as the frame rate asks."""
        recorder = self.recorder
        if recorder is None:
            return
        due = recorder.frames_due(now)
        if due and recorder.active:
            record = self.state.record
            recorder.write(self.session.viewport.render_image(self.state.view, record.width, record.height), due)

    def _run_action(self, action: Action) -> None:
        handlers = {
            Action.UNDO: self.state.undo,
            Action.REDO: self.state.redo,
            Action.SAVE_STATE: self._save_state,
            Action.LOAD_STATE: self._load_state,
            Action.SCREENSHOT_VIEW: self._screenshot_view,
            Action.SCREENSHOT_WINDOW: self._screenshot_window,
            Action.RECORD_START: self.start_recording,
            Action.RECORD_STOP: self.stop_recording,
            Action.LOAD_SEQUENCE: self.load_sequence,
            Action.EXPORT_SEQUENCE: self._start_export,
            Action.CANCEL_EXPORT: self._cancel_export,
            Action.LOAD_MODEL: self._load_model,
            Action.QUIT: self._quit,
        }
        try:
            handlers[action]()
        except (SmplpixError, OSError) as exc:
            self.state.notify(_one_line(exc), error=True)

    def _quit(self) -> None:
        self.quit = True

    # ---------------------------------------------------------------------------- state files

    def _save_state(self) -> None:
        path = Path(self.state.state_path).expanduser()
        save_state(path, self.session.pipeline.body, self.state.avatar)
        self.state.notify(f"saved {path}")

    def _load_state(self) -> None:
        path = Path(self.state.state_path).expanduser()
        self.apply_state_file(path)
        self.state.notify(f"loaded {path}")

    def apply_state_file(self, path: Path) -> None:
        """Show the pose, shape, expression and camera of a state file (an undoable edit)."""
        avatar = load_state(path, self.session.pipeline.body)
        self.state.edit(avatar.params, avatar.camera)
        self.state.commit()

    # ------------------------------------------------------------------- screenshots, recording

    def _screenshot_view(self) -> None:
        record = self.state.record
        image = self.session.viewport.render_image(self.state.view, record.width, record.height)
        path = save_png(image, self.state.output_path("viewport", ".png"))
        record.last_output = str(path)
        self.state.notify(f"saved {path}")

    def _screenshot_window(self) -> None:
        self.window_shot = self.state.output_path("window", ".png")

    def start_recording(self, path: Path | None = None, start: float | None = None) -> None:
        """Start a live recording.

        Args:
            path: output file; default the Record panel's next path or a new timestamped file.
            start: ``perf_counter`` time of the recording's first frame (default: when it is first drawn).
        """
        if self.recorder is not None:
            return
        record = self.state.record
        if path is None:
            path = (
                Path(record.next_record_path) if record.next_record_path else self.state.output_path("viewer", ".mp4")
            )
        self.recorder = VideoRecorder(path, record.fps, record.width, record.height, crf=record.crf)
        if start is not None:
            self.recorder.start_clock(start)
        record.recording, record.frames_written, record.next_record_path = True, 0, ""

    def stop_recording(self) -> Path | None:
        """Finish the live recording (finalizing the file); returns it, or None if nothing was written."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        path = recorder.stop()
        record = self.state.record
        record.recording = False
        if recorder.error:
            self.state.notify(recorder.error, error=True)
        if path is not None:
            record.last_output = str(path)
            self.state.notify(f"saved {path} ({recorder.frames_written} frames)")
        return path

    def _refresh_record_state(self) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        self.state.record.frames_written = recorder.frames_written
        if recorder.error:
            self.stop_recording()

    # -------------------------------------------------------------------------------- sequence

    def load_sequence(self) -> None:
        """Load the file named in the Sequence panel and start playing it."""
        seq = self.state.sequence
        with self.session.body_lock:  # loading may evaluate the body (demo motion, AMASS floor height)
            self.sequence = load_sequence_file(seq.path, self.session.pipeline.body)
        seq.loaded_name, seq.duration_s, seq.fps = self.sequence.name, self.sequence.duration_s, self.sequence.fps
        seq.time_s, seq.playing = 0.0, True
        self._show_sequence_time()

    def _advance_playback(self, dt: float) -> None:
        seq = self.state.sequence
        if self.sequence is None or self.export is not None:
            return
        if seq.playing:
            seq.time_s += dt * seq.speed
            if seq.time_s > seq.duration_s:
                if seq.loop and seq.duration_s > 0:
                    seq.time_s %= seq.duration_s
                else:
                    seq.time_s, seq.playing = seq.duration_s, False
        if seq.time_s != self._shown_time:
            self._show_sequence_time()

    def _show_sequence_time(self) -> None:
        seq = self.state.sequence
        self._shown_time = seq.time_s
        self.state.edit(params=self.sequence.params_at(seq.time_s, self.state.params), user=False)

    def _start_export(self) -> None:
        if self.sequence is None or self.export is not None:
            return
        seq, session, base, orbit = self.state.sequence, self.session, self.state.params, self.state.camera
        sequence = self.sequence
        self.export = SequenceExport(
            Path(seq.export_path).expanduser(),
            lambda t: sequence.params_at(t, base),
            seq.duration_s,
            seq.export_fps,
            lambda params: session.job(params, orbit),
            session.size,
            session.worker,
            crf=self.state.record.crf,
        )
        seq.playing, seq.export_progress = False, 0.0
        session.paused = True
        session.worker.overlap = session.options.overlap != "off"  # throughput: nobody waits on an edit

    def _step_export(self) -> None:
        export, seq = self.export, self.state.sequence
        export.step()
        if export.last_output is not None:
            self.session.show_image(export.last_output)
            export.last_output = None
        seq.export_progress = export.progress
        if export.done:
            self._end_export(cancel=False)

    def _cancel_export(self) -> None:
        if self.export is not None:
            self._end_export(cancel=True)

    def _end_export(self, cancel: bool) -> None:
        export, self.export = self.export, None
        self.state.sequence.export_progress = None
        self.session.paused = False
        self.state.params_dirty = True  # show the interactive state again
        if cancel:
            export.cancel()
            self.state.notify("sequence render cancelled")
        elif export.error:
            export.cancel()
            self.state.notify(export.error, error=True)
        else:
            path = export.finish()
            self.state.notify(f"saved {path} ({export.total} frames)")

    # ----------------------------------------------------------------------------------- model

    def _load_model(self) -> None:
        model = self.state.model
        config = dataclasses.replace(
            self.config,
            model=Path(model.path).expanduser() if model.path else None,
            backend=model.backend,
            width=model.width,
            height=model.height,
        )
        if self.export is not None:
            self._end_export(cancel=True)
        old = self.session
        session = RenderSession(config, old.viewport.ctx, old.on_result, old.options)  # raises on failure
        self.session = session
        old.release()
        self.config = config
        previous, self.state = self.state, rebuild_state(self.state, session)
        if self.state is not previous:  # another body model: its sequences and poses do not apply
            self.sequence = None
        self.state.notify(f"loaded {session.pipeline.runtime.describe().model_path}")

    def close(self) -> None:
        """Finish a recording, cancel an export, free the session. Safe to call from a signal exit."""
        try:
            self.stop_recording()
        finally:
            if self.export is not None:
                self.export.cancel()
                self.export = None
            self.session.release()


def rebuild_state(state: AppState, session: RenderSession) -> AppState:
    """The state for a newly loaded model: kept as is for the same body model, else rebuilt."""
    body = session.pipeline.body
    if body.spec.name == state.spec.name and body.spec.joint_names == state.spec.joint_names:
        state.params_dirty = state.camera_dirty = True
        return state
    fresh = AppState.create(body.spec, body.default_params(), session.home_camera, session.extras)
    for name in ("view", "record", "model", "panels", "state_path", "messages"):
        setattr(fresh, name, getattr(state, name))
    return fresh


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write an (H, W, 3) uint8 image as PNG (temporary file, then rename)."""
    from PIL import Image

    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise SmplpixError(f"cannot save {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.partial")
    Image.fromarray(image).save(tmp, format="PNG")
    tmp.replace(path)
    return path


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return " ".join(str(exc).split()) or type(exc).__name__


__all__ = ["Controller", "rebuild_state", "save_png"]
