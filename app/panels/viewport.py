"""The viewport's ImGui side: mouse → camera edits, the HUD line and the message list.

The viewport itself is the dock space's empty central area, drawn by
:class:`~smplpix_viewer.viewport.ViewportRenderer`; here only the state is read and written.
"""

from __future__ import annotations

from imgui_bundle import imgui

from ..shortcuts import reset_camera
from ..state import AppState
from ..viewport import orbit_drag, pan_drag, wheel_zoom


def _inside(rect: tuple[int, int, int, int], x: float, y: float) -> bool:
    rx, ry, rw, rh = rect
    return rx <= x < rx + rw and ry <= y < ry + rh


def viewport_input(state: AppState) -> None:
    """Orbit (left drag), pan (right / middle drag), zoom (wheel), reset (double click)."""
    io = imgui.get_io()
    mouse = io.mouse_pos
    hovered = _inside(state.viewport_rect, mouse.x, mouse.y) and not io.want_capture_mouse
    if state.drag_button is not None and not imgui.is_mouse_down(state.drag_button):
        state.drag_button = None
    if state.drag_button is None and hovered:
        if imgui.is_mouse_double_clicked(0):
            reset_camera(state)
            return
        for button in (0, 1, 2):
            if imgui.is_mouse_clicked(button):
                state.drag_button = button
        if io.mouse_wheel:
            state.edit(camera=wheel_zoom(state.camera, io.mouse_wheel))
    dx, dy = io.mouse_delta.x, io.mouse_delta.y
    if state.drag_button is None or (dx == 0 and dy == 0):
        return
    if state.drag_button == 0:
        state.edit(camera=orbit_drag(state.camera, dx, dy))
    else:
        state.edit(camera=pan_drag(state.camera, dx, dy, state.viewport_rect[3]))


def hud(state: AppState) -> None:
    """One line of speed figures over the viewport's top-left corner."""
    if not state.view.show_hud:
        return
    s = state.stats
    x, y, _, _ = state.viewport_rect
    text = (
        f"{state.view.mode.value} | {s.backend.split(' ')[0] or 'no model'} {s.resolution[0]}x{s.resolution[1]} | "
        f"neural {s.neural_fps:4.1f} fps | latency {s.latency_ms:5.0f} ms | UI {s.ui_frame_ms:4.1f} ms"
    )
    if state.record.recording:
        text += f" | REC {state.record.frames_written}"
    draw = imgui.get_foreground_draw_list()
    draw.add_text(imgui.ImVec2(x + 9, y + 7), imgui.IM_COL32(0, 0, 0, 200), text)
    draw.add_text(imgui.ImVec2(x + 8, y + 6), imgui.IM_COL32(235, 235, 235, 255), text)


def messages(state: AppState) -> None:
    """Errors and notices at the bottom of the viewport, each with a dismiss button."""
    if not state.messages:
        return
    x, y, w, h = state.viewport_rect
    imgui.set_next_window_pos(imgui.ImVec2(x + 8, y + h - 8), imgui.Cond_.always.value, imgui.ImVec2(0.0, 1.0))
    imgui.set_next_window_size_constraints(imgui.ImVec2(0, 0), imgui.ImVec2(max(w - 16, 50), h / 2))
    flags = (
        imgui.WindowFlags_.no_decoration.value
        | imgui.WindowFlags_.always_auto_resize.value
        | imgui.WindowFlags_.no_docking.value
        | imgui.WindowFlags_.no_focus_on_appearing.value
        | imgui.WindowFlags_.no_saved_settings.value
    )
    imgui.begin("##messages", None, flags)
    imgui.push_text_wrap_pos(max(w - 60, 100))
    dismiss = None
    for i, message in enumerate(state.messages):
        if imgui.small_button(f"x##msg{i}"):
            dismiss = i
        imgui.same_line()
        color = imgui.ImVec4(1.0, 0.45, 0.4, 1.0) if message.error else imgui.ImVec4(0.75, 0.9, 0.75, 1.0)
        imgui.text_colored(color, message.text)
    imgui.pop_text_wrap_pos()
    imgui.end()
    if dismiss is not None:
        del state.messages[dismiss]
