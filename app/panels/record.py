"""Record panel: live MP4 recording of the viewport, screenshots, output folder, frame rate and quality."""

from __future__ import annotations

from imgui_bundle import imgui

from ..state import Action, AppState


def record_panel(state: AppState) -> None:
    """Edit ``state.record``; queue recording and screenshot actions."""
    record = state.record
    _, record.folder = imgui.input_text("output folder", record.folder)
    imgui.begin_disabled(record.recording)
    changed, fps = imgui.slider_float("fps", record.fps, 5.0, 60.0, "%.0f")
    if changed:
        record.fps = float(round(fps))
    changed, crf = imgui.slider_int("quality (crf)", record.crf, 0, 40)
    if changed:
        record.crf = crf
    imgui.set_item_tooltip("x264 constant rate factor: lower is better quality and larger files; 18-23 look good")
    changed, size = imgui.input_int2("video size (w, h)", [record.width, record.height])
    if changed:
        record.width, record.height = (max(16, min(4096, v)) for v in size)
    imgui.set_item_tooltip("fixed output size, independent of the window; the view is letterboxed into it")
    imgui.end_disabled()
    imgui.separator()
    if record.recording:
        if imgui.button("stop recording  (F9)"):
            state.request(Action.RECORD_STOP)
        imgui.same_line()
        imgui.text_colored(imgui.ImVec4(1.0, 0.3, 0.3, 1.0), f"REC  {record.frames_written} frames")
    elif imgui.button("start recording  (F9)"):
        state.request(Action.RECORD_START)
    if imgui.button("screenshot viewport  (F12)"):
        state.request(Action.SCREENSHOT_VIEW)
    imgui.same_line()
    if imgui.button("screenshot window"):
        state.request(Action.SCREENSHOT_WINDOW)
    if record.last_output:
        imgui.text_wrapped(f"last file: {record.last_output}")
