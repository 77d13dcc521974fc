"""The viewer's single typed state, and the undo/redo history of avatar snapshots.

Panels read and write :class:`AppState` only. Edits of the avatar (pose, shape, expression, camera)
replace the immutable :class:`~smplpix_rt.state.AvatarState` through :meth:`AppState.edit`, which
marks what changed; the main loop turns those marks into render requests and clears them. Commands
that need more than a state change (save a file, start a recording, ...) are queued as
:class:`Action` values with their arguments kept in the matching settings object.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path

from smplpix_rt.camera import OrbitCamera
from smplpix_rt.contracts import BodyParams, BodySpec
from smplpix_rt.state import AvatarState

from .presets import BodyExtras


class ViewMode(enum.Enum):
    """What the viewport shows."""

    NEURAL = "neural"
    GBUFFER = "gbuffer"
    MESH = "mesh"
    SIDE_BY_SIDE = "side by side"
    OVERLAY = "overlay"


class Action(enum.Enum):
    """Commands a panel or shortcut asks the main loop to carry out (arguments live in the settings)."""

    UNDO = "undo"
    REDO = "redo"
    SAVE_STATE = "save state"
    LOAD_STATE = "load state"
    SCREENSHOT_VIEW = "screenshot viewport"
    SCREENSHOT_WINDOW = "screenshot window"
    RECORD_START = "start recording"
    RECORD_STOP = "stop recording"
    LOAD_SEQUENCE = "load sequence"
    EXPORT_SEQUENCE = "render sequence to video"
    CANCEL_EXPORT = "cancel sequence render"
    LOAD_MODEL = "load model"
    QUIT = "quit"


#: Titles of the dockable panels.
PANELS = ("Pose", "Shape", "Expression", "Camera", "Render", "Record", "Sequence", "Help")

#: G-buffer channel selections the viewport can show, by label.
GBUFFER_CHANNELS = ("rgb", "r", "g", "b", "a")


@dataclass
class ViewSettings:
    """Viewport options.

    Attributes:
        mode: what the viewport shows.
        gbuffer_plane: which G-buffer render target the G-buffer mode shows.
        gbuffer_channels: one of :data:`GBUFFER_CHANNELS`.
        gbuffer_scale, gbuffer_offset: display mapping ``value * scale + offset`` of G-buffer values;
            None = chosen from the channel names (signed quantities map [-1, 1] to [0, 1]).
        overlay_opacity: weight of the shaded mesh over the neural image in overlay mode.
        show_hud: draw the frame-rate / latency line over the viewport.
        whole_pixels: zoom images by whole numbers with nearest-neighbour sampling (each generator
            pixel a sharp square; under software OpenGL also cheaper to draw) instead of filling
            the viewport with bilinear sampling.
    """

    mode: ViewMode = ViewMode.NEURAL
    gbuffer_plane: int = 0
    gbuffer_channels: str = "rgb"
    gbuffer_scale: float | None = None
    gbuffer_offset: float | None = None
    overlay_opacity: float = 0.5
    show_hud: bool = True
    whole_pixels: bool = False


@dataclass
class RecordSettings:
    """Live recording and screenshots.

    Attributes:
        folder: output folder for recordings and screenshots.
        fps: constant frame rate of recordings.
        crf: x264 constant rate factor (lower is better quality, 18-23 is visually good).
        width, height: fixed output size of recordings and viewport screenshots.
        recording: a recording is running (set by the loop).
        frames_written: frames of the running recording (set by the loop).
        last_output: the last file written (set by the loop).
        next_record_path: explicit file for the next recording; empty = a timestamped name in ``folder``.
    """

    folder: str = "."
    fps: float = 30.0
    crf: int = 20
    width: int = 512
    height: int = 512
    recording: bool = False
    frames_written: int = 0
    last_output: str = ""
    next_record_path: str = ""


@dataclass
class SequenceSettings:
    """Pose-sequence playback and offline rendering.

    Attributes:
        path: sequence file to load (``.npz`` AMASS-style for SMPL-X, ``.json`` for any body model).
        loaded_name: the loaded sequence's file name, empty if none (set by the loop).
        duration_s: length of the loaded sequence in seconds (set by the loop).
        fps: the loaded sequence's own frame rate (set by the loop).
        playing: advance the time every UI frame.
        loop: wrap around at the end instead of stopping.
        time_s: current time in the sequence.
        speed: playback speed factor.
        export_path: video file for "render sequence to video".
        export_fps: fixed time step of the export, frames per second.
        export_progress: fraction done of a running export, None when none runs (set by the loop).
    """

    path: str = ""
    loaded_name: str = ""
    duration_s: float = 0.0
    fps: float = 30.0
    playing: bool = False
    loop: bool = True
    time_s: float = 0.0
    speed: float = 1.0
    export_path: str = "sequence.mp4"
    export_fps: float = 30.0
    export_progress: float | None = None


@dataclass
class ModelSettings:
    """The generator to (re)load from the Render panel.

    Attributes:
        path: model file; empty = the shipped default.
        backend: ``auto``, ``torch``, ``onnxruntime`` or ``tensorrt``.
        width, height: generator output size.
    """

    path: str = ""
    backend: str = "auto"
    width: int = 256
    height: int = 256


@dataclass
class Stats:
    """Measurements shown by the Render panel and the HUD (written by the loop only).

    Attributes:
        backend: one line describing the runtime in use.
        resolution: generator output size.
        neural_fps: finished neural frames per second (recent average).
        latency_ms: edit → displayed frame latency of the newest frame.
        generator_period_ms: recent average time between finished neural frames while busy.
        body_ms, raster_ms, generator_ms: last per-stage timings.
        ui_frame_ms: recent average UI frame time (CPU side).
        ui_pacing: when the UI draws while neural frames are made: ``"frames"`` or ``"cap"``.
        redraw: what a UI frame redraws: ``"whole window"`` or ``"changes only"``.
        stages: whether the render worker's stages overlap now, and the ``--overlap-stages`` mode.
        rss_mb: resident memory of the process.
        gpu_mem: one line about GPU memory, or "no GPU".
    """

    backend: str = ""
    resolution: tuple[int, int] = (0, 0)
    neural_fps: float = 0.0
    latency_ms: float = 0.0
    generator_period_ms: float = 0.0
    body_ms: float = 0.0
    raster_ms: float = 0.0
    generator_ms: float = 0.0
    ui_frame_ms: float = 0.0
    ui_pacing: str = "cap"
    redraw: str = "whole window"
    stages: str = ""
    rss_mb: float = 0.0
    gpu_mem: str = "no GPU"


@dataclass(frozen=True)
class Message:
    """A line for the user: an error or a notice, shown in the window until dismissed."""

    text: str
    error: bool = False


class History:
    """Undo/redo over immutable :class:`AvatarState` snapshots.

    Args:
        initial: the first snapshot.
        limit: the most snapshots kept (the oldest are dropped).
    """

    def __init__(self, initial: AvatarState, limit: int = 256) -> None:
        self._undo: list[AvatarState] = [initial]
        self._redo: list[AvatarState] = []
        self._limit = limit

    @property
    def current(self) -> AvatarState:
        return self._undo[-1]

    def push(self, snapshot: AvatarState) -> None:
        """Record a new snapshot (no-op if it is the current one); clears the redo list."""
        if snapshot is self.current:
            return
        self._undo.append(snapshot)
        self._redo.clear()
        if len(self._undo) > self._limit:
            del self._undo[0]

    def undo(self) -> AvatarState | None:
        """Step back; returns the snapshot to restore or None at the oldest one."""
        if len(self._undo) < 2:
            return None
        self._redo.append(self._undo.pop())
        return self.current

    def redo(self) -> AvatarState | None:
        """Step forward again; returns the snapshot to restore or None."""
        if not self._redo:
            return None
        self._undo.append(self._redo.pop())
        return self.current

    @property
    def can_undo(self) -> bool:
        return len(self._undo) > 1

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def __len__(self) -> int:
        return len(self._undo)


@dataclass
class AppState:
    """Everything the panels edit or show.

    Attributes:
        spec: the active body model's names and ranges (read-only for panels).
        extras: joint groups, presets and pose helpers of the active body model (read-only).
        neutral: the body's neutral parameters (rest pose, default shape).
        home_camera: the camera the "reset view" actions return to.
        avatar: the current pose, shape, expression and camera.
        history: undo/redo snapshots of ``avatar``.
        selected_joint: index of the joint whose sliders the Pose panel shows first.
        pose_filter: the Pose panel's joint-name filter.
        state_path: file for save / load state.
        params_dirty: ``avatar.params`` changed since the loop last submitted them for rendering.
        camera_dirty: ``avatar.camera`` changed since the loop last submitted it for rendering.
        edit_time: ``time.perf_counter()`` of the oldest edit not yet rendered (latency start).
        uncommitted: an edit that is not in the history yet (committed when the gesture ends).
        actions: commands queued for the loop this frame.
        messages: errors and notices shown in the window.
        panels: which panels are open, by title.
        viewport_rect: the viewport's ``(x, y, width, height)`` in window pixels, top-left origin.
        drag_button: the mouse button of a camera drag that started in the viewport, or None.
    """

    spec: BodySpec
    extras: BodyExtras
    neutral: BodyParams
    home_camera: OrbitCamera
    avatar: AvatarState
    history: History
    selected_joint: int = 0
    pose_filter: str = ""
    state_path: str = "avatar_state.json"
    view: ViewSettings = field(default_factory=ViewSettings)
    record: RecordSettings = field(default_factory=RecordSettings)
    sequence: SequenceSettings = field(default_factory=SequenceSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    stats: Stats = field(default_factory=Stats)
    params_dirty: bool = True
    camera_dirty: bool = True
    edit_time: float | None = None
    uncommitted: bool = False
    actions: list[Action] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    panels: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(PANELS, True))
    viewport_rect: tuple[int, int, int, int] = (0, 0, 1, 1)
    drag_button: int | None = None

    @classmethod
    def create(cls, spec: BodySpec, neutral: BodyParams, camera: OrbitCamera, extras: BodyExtras) -> AppState:
        """A state showing ``neutral`` through ``camera`` with an empty history."""
        avatar = AvatarState(neutral, camera)
        return cls(
            spec=spec, extras=extras, neutral=neutral, home_camera=camera, avatar=avatar, history=History(avatar)
        )

    @property
    def params(self) -> BodyParams:
        return self.avatar.params

    @property
    def camera(self) -> OrbitCamera:
        return self.avatar.camera

    def edit(
        self,
        params: BodyParams | None = None,
        camera: OrbitCamera | None = None,
        *,
        user: bool = True,
        now: float | None = None,
    ) -> None:
        """Replace the body parameters and/or the camera and mark them dirty.

        Args:
            params: new body parameters, or None to keep them.
            camera: new camera, or None to keep it.
            user: an edit by the user (goes to the undo history); playback passes False.
            now: ``time.perf_counter()`` of the edit, for the latency measurement.
        """
        import time

        if params is None and camera is None:
            return
        self.avatar = AvatarState(
            params if params is not None else self.avatar.params, camera if camera is not None else self.avatar.camera
        )
        self.params_dirty |= params is not None
        self.camera_dirty |= camera is not None
        if self.edit_time is None:
            self.edit_time = time.perf_counter() if now is None else now
        self.uncommitted |= user

    def edit_camera(self, **changes: object) -> None:
        """Change some :class:`OrbitCamera` fields (a user edit)."""
        self.edit(camera=dataclasses.replace(self.avatar.camera, **changes))

    def restore(self, snapshot: AvatarState) -> None:
        """Show a snapshot from the history (undo/redo) without recording a new one."""
        self.edit(snapshot.params, snapshot.camera, user=False)
        self.avatar = snapshot

    def undo(self) -> bool:
        """Step back in the history (a pending edit is committed first); False if there is nothing to undo."""
        self.commit()
        snapshot = self.history.undo()
        if snapshot is not None:
            self.restore(snapshot)
        return snapshot is not None

    def redo(self) -> bool:
        """Step forward in the history; False if there is nothing to redo."""
        self.commit()
        snapshot = self.history.redo()
        if snapshot is not None:
            self.restore(snapshot)
        return snapshot is not None

    def commit(self) -> None:
        """Put the current avatar into the undo history if a user edit is pending."""
        if self.uncommitted:
            self.history.push(self.avatar)
            self.uncommitted = False

    def request(self, action: Action) -> None:
        """Queue a command for the loop (once per frame)."""
        if action not in self.actions:
            self.actions.append(action)

    def notify(self, text: str, error: bool = False) -> None:
        """Show a line in the window (the newest few are kept)."""
        self.messages.append(Message(text, error))
        del self.messages[:-6]

    def output_path(self, stem: str, suffix: str) -> Path:
        """A new timestamped file name in the record folder, e.g. ``viewer-20260101-120000.mp4``."""
        import time

        name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder = Path(self.record.folder).expanduser()
        path = folder / f"{name}{suffix}"
        n = 1
        while path.exists():
            path = folder / f"{name}-{n}{suffix}"
            n += 1
        return path


__all__ = [
    "Action",
    "AppState",
    "GBUFFER_CHANNELS",
    "History",
    "Message",
    "PANELS",
    "ModelSettings",
    "RecordSettings",
    "SequenceSettings",
    "Stats",
    "ViewMode",
    "ViewSettings",
]
