"""Sequence panel: load a pose sequence, play / pause / scrub / speed, and render it to a video."""

from __future__ import annotations

from imgui_bundle import imgui

from ..state import Action, AppState


def sequence_panel(state: AppState) -> None:
    """Edit ``state.sequence``; queue loading and the offline render."""
    seq = state.sequence
    _, seq.path = imgui.input_text_with_hint("file", ".json, AMASS .npz (SMPL-X) or demo", seq.path)
    if imgui.button("load sequence"):
        state.request(Action.LOAD_SEQUENCE)
    if not seq.loaded_name:
        imgui.text_disabled("no sequence loaded")
        return
    imgui.text(f"{seq.loaded_name}: {seq.duration_s:.2f} s at {seq.fps:g} fps")
    exporting = seq.export_progress is not None
    imgui.begin_disabled(exporting)
    if imgui.button("pause  (Space)" if seq.playing else "play  (Space)"):
        seq.playing = not seq.playing
    imgui.same_line()
    _, seq.loop = imgui.checkbox("loop", seq.loop)
    changed, time_s = imgui.slider_float("time", seq.time_s, 0.0, max(seq.duration_s, 1e-3), "%.2f s")
    if changed:
        seq.time_s, seq.playing = time_s, False
    _, seq.speed = imgui.slider_float("speed", seq.speed, 0.1, 4.0, "%.2fx", imgui.SliderFlags_.logarithmic.value)
    imgui.end_disabled()
    imgui.separator_text("render to video")
    imgui.begin_disabled(exporting)
    _, seq.export_path = imgui.input_text("video file", seq.export_path)
    changed, fps = imgui.slider_float("time step (fps)", seq.export_fps, 5.0, 60.0, "%.0f")
    if changed:
        seq.export_fps = float(round(fps))
    imgui.end_disabled()
    if exporting:
        imgui.progress_bar(seq.export_progress, None, f"{100 * seq.export_progress:.0f} %")
        if imgui.button("cancel"):
            state.request(Action.CANCEL_EXPORT)
    elif imgui.button("render sequence to video"):
        state.request(Action.EXPORT_SEQUENCE)
