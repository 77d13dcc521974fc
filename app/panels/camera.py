"""Camera panel: orbit parameters, field of view, pan and the side presets."""

from __future__ import annotations

from imgui_bundle import imgui

from ..shortcuts import CAMERA_PRESETS, reset_camera, set_camera_preset
from ..state import AppState
from ..viewport import DISTANCE_RANGE


def camera_panel(state: AppState) -> None:
    """Edit ``state.avatar.camera``."""
    camera = state.camera
    changes: dict[str, object] = {}
    changed, value = imgui.slider_float("yaw", camera.yaw_deg, -180.0, 180.0, "%.1f deg")
    if changed:
        changes["yaw_deg"] = value
    changed, value = imgui.slider_float("pitch", camera.pitch_deg, -89.0, 89.0, "%.1f deg")
    if changed:
        changes["pitch_deg"] = value
    changed, value = imgui.slider_float(
        "distance", camera.distance, DISTANCE_RANGE[0], 10.0, "%.2f m", imgui.SliderFlags_.logarithmic.value
    )
    if changed:
        changes["distance"] = max(DISTANCE_RANGE[0], value)
    changed, value = imgui.slider_float("field of view", camera.fov_y_deg, 5.0, 120.0, "%.1f deg")
    if changed:
        changes["fov_y_deg"] = value
    changed, pan = imgui.drag_float2("pan", list(camera.pan), 0.005, -5.0, 5.0, "%.3f m")
    if changed:
        changes["pan"] = (float(pan[0]), float(pan[1]))
    if changes:
        state.edit_camera(**changes)
    imgui.separator()
    for i, name in enumerate(CAMERA_PRESETS):
        if i:
            imgui.same_line()
        if imgui.button(name):
            set_camera_preset(state, name)
    if imgui.button("reset camera"):
        reset_camera(state)
