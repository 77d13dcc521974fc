"""Keyboard shortcuts: one table, used both to handle keys and to list them in the Help panel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imgui_bundle import imgui

from .state import Action, AppState, ViewMode

CAMERA_PRESETS = {"front": (0.0, 0.0), "back": (180.0, 0.0), "left side": (90.0, 0.0), "right side": (-90.0, 0.0)}


def set_camera_preset(state: AppState, name: str) -> None:
    """Look at the body from a named side (keeps distance, field of view and pan)."""
    yaw, pitch = CAMERA_PRESETS[name]
    state.edit_camera(yaw_deg=yaw, pitch_deg=pitch)


def reset_camera(state: AppState) -> None:
    """Back to the start-up camera."""
    state.edit(camera=state.home_camera)


def _toggle_recording(state: AppState) -> None:
    state.request(Action.RECORD_STOP if state.record.recording else Action.RECORD_START)


def _toggle_playback(state: AppState) -> None:
    if state.sequence.loaded_name:
        state.sequence.playing = not state.sequence.playing


def _set_view(mode: ViewMode) -> Callable[[AppState], None]:
    def apply(state: AppState) -> None:
        state.view.mode = mode

    return apply


def _toggle_hud(state: AppState) -> None:
    state.view.show_hud = not state.view.show_hud


def _toggle_whole_pixels(state: AppState) -> None:
    state.view.whole_pixels = not state.view.whole_pixels


@dataclass(frozen=True)
class Shortcut:
    """One key chord and what it does."""

    key: imgui.Key
    label: str
    description: str
    run: Callable[[AppState], None]
    ctrl: bool = False
    shift: bool = False


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut(imgui.Key.z, "Ctrl+Z", "undo", lambda s: s.request(Action.UNDO), ctrl=True),
    Shortcut(imgui.Key.y, "Ctrl+Y", "redo", lambda s: s.request(Action.REDO), ctrl=True),
    Shortcut(imgui.Key.z, "Ctrl+Shift+Z", "redo", lambda s: s.request(Action.REDO), ctrl=True, shift=True),
    Shortcut(imgui.Key.s, "Ctrl+S", "save state to the state file", lambda s: s.request(Action.SAVE_STATE), ctrl=True),
    Shortcut(
        imgui.Key.o, "Ctrl+O", "load state from the state file", lambda s: s.request(Action.LOAD_STATE), ctrl=True
    ),
    Shortcut(
        imgui.Key.q,
        "Ctrl+Q",
        "quit (a running recording is finished first)",
        lambda s: s.request(Action.QUIT),
        ctrl=True,
    ),
    Shortcut(imgui.Key._1, "1", "view: neural render", _set_view(ViewMode.NEURAL)),
    Shortcut(imgui.Key._2, "2", "view: G-buffer channels", _set_view(ViewMode.GBUFFER)),
    Shortcut(imgui.Key._3, "3", "view: shaded mesh", _set_view(ViewMode.MESH)),
    Shortcut(imgui.Key._4, "4", "view: side by side (mesh | neural)", _set_view(ViewMode.SIDE_BY_SIDE)),
    Shortcut(imgui.Key._5, "5", "view: overlay (mesh over neural)", _set_view(ViewMode.OVERLAY)),
    Shortcut(imgui.Key.f, "F", "camera: front", lambda s: set_camera_preset(s, "front")),
    Shortcut(imgui.Key.b, "B", "camera: back", lambda s: set_camera_preset(s, "back")),
    Shortcut(imgui.Key.l, "L", "camera: left side", lambda s: set_camera_preset(s, "left side")),
    Shortcut(imgui.Key.r, "R", "camera: right side", lambda s: set_camera_preset(s, "right side")),
    Shortcut(imgui.Key.home, "Home", "camera: reset", reset_camera),
    Shortcut(imgui.Key.space, "Space", "play / pause the pose sequence", _toggle_playback),
    Shortcut(imgui.Key.f9, "F9", "start / stop recording the viewport", _toggle_recording),
    Shortcut(imgui.Key.f12, "F12", "screenshot of the viewport (PNG)", lambda s: s.request(Action.SCREENSHOT_VIEW)),
    Shortcut(
        imgui.Key.f12,
        "Shift+F12",
        "screenshot of the whole window (PNG)",
        lambda s: s.request(Action.SCREENSHOT_WINDOW),
        shift=True,
    ),
    Shortcut(imgui.Key.h, "H", "show / hide the HUD", _toggle_hud),
    Shortcut(imgui.Key.z, "Z", "whole-pixel zoom on / off (sharp generator pixels)", _toggle_whole_pixels),
)

MOUSE_HELP = (
    ("left drag", "orbit around the body"),
    ("right / middle drag", "pan"),
    ("wheel", "zoom"),
    ("double click", "reset the camera"),
)


def handle_shortcuts(state: AppState) -> None:
    """Run the shortcuts pressed this frame (ignored while a text field has the keyboard)."""
    io = imgui.get_io()
    if io.want_text_input:
        return
    for shortcut in SHORTCUTS:
        if io.key_ctrl != shortcut.ctrl or io.key_shift != shortcut.shift:
            continue
        if imgui.is_key_pressed(shortcut.key, repeat=False):
            shortcut.run(state)


__all__ = [
    "CAMERA_PRESETS",
    "MOUSE_HELP",
    "SHORTCUTS",
    "Shortcut",
    "handle_shortcuts",
    "reset_camera",
    "set_camera_preset",
]
