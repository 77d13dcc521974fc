"""Render panel: the view mode, the model in use with its speed and memory, and loading another model."""

from __future__ import annotations

from imgui_bundle import imgui

from ..state import GBUFFER_CHANNELS, Action, AppState, ViewMode
from ..viewport import display_range

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
_MODES = tuple(ViewMode)


def render_panel(state: AppState, gbuffer_planes: tuple[tuple[str, ...], ...] = ()) -> None:
    """Edit ``state.view`` and ``state.model``; show ``state.stats``.

    Args:
        state: the app state.
        gbuffer_planes: channel names of each G-buffer render target of the model in use.
    """
    _view_section(state, gbuffer_planes)
    _stats_section(state)
    _model_section(state)


def _view_section(state: AppState, gbuffer_planes: tuple[tuple[str, ...], ...]) -> None:
    view = state.view
    imgui.separator_text("view")
    index = _MODES.index(view.mode)
    changed, index = imgui.combo("mode", index, [f"{i + 1}  {m.value}" for i, m in enumerate(_MODES)])
    if changed:
        view.mode = _MODES[index]
    if view.mode is ViewMode.GBUFFER and gbuffer_planes:
        _gbuffer_options(view, gbuffer_planes)
    if view.mode is ViewMode.OVERLAY:
        _, view.overlay_opacity = imgui.slider_float("mesh opacity", view.overlay_opacity, 0.0, 1.0)
    _, view.show_hud = imgui.checkbox("HUD over the viewport", view.show_hud)
    _, view.whole_pixels = imgui.checkbox("whole-pixel zoom", view.whole_pixels)
    imgui.set_item_tooltip("zoom by whole numbers, nearest-neighbour: sharp generator pixels, cheaper to draw")


def _gbuffer_options(view, gbuffer_planes: tuple[tuple[str, ...], ...]) -> None:
    labels = [f"target {i}: {', '.join(names)}" for i, names in enumerate(gbuffer_planes)]
    plane = min(view.gbuffer_plane, len(labels) - 1)
    changed, plane = imgui.combo("target", plane, labels)
    if changed:
        view.gbuffer_plane = plane
    channel = GBUFFER_CHANNELS.index(view.gbuffer_channels)
    changed, channel = imgui.combo("channels", channel, list(GBUFFER_CHANNELS))
    if changed:
        view.gbuffer_channels = GBUFFER_CHANNELS[channel]
    auto = view.gbuffer_scale is None
    changed, auto = imgui.checkbox("auto range", auto)
    if changed:
        scale, offset = display_range(gbuffer_planes[plane], view.gbuffer_channels)
        view.gbuffer_scale, view.gbuffer_offset = (None, None) if auto else (scale, offset)
    if not auto:
        _, view.gbuffer_scale = imgui.drag_float("scale", view.gbuffer_scale, 0.01, -10.0, 10.0)
        _, view.gbuffer_offset = imgui.drag_float("offset", view.gbuffer_offset, 0.01, -10.0, 10.0)


def _stats_section(state: AppState) -> None:
    stats = state.stats
    imgui.separator_text("performance")
    imgui.text_wrapped(f"backend: {stats.backend or 'none'}")
    imgui.text(f"resolution: {stats.resolution[0]} x {stats.resolution[1]}")
    imgui.text(f"neural fps: {stats.neural_fps:5.1f}")
    imgui.text(f"edit -> screen latency: {stats.latency_ms:6.1f} ms")
    imgui.text(f"UI frame: {stats.ui_frame_ms:5.1f} ms (pacing: {stats.ui_pacing})")
    imgui.text(f"UI redraws: {stats.redraw}")
    imgui.text(f"render stages: {stats.stages}")
    if imgui.begin_table("##stages", 2, imgui.TableFlags_.borders_inner_v.value):
        for name, value in (("body", stats.body_ms), ("raster", stats.raster_ms), ("generator", stats.generator_ms)):
            imgui.table_next_row()
            imgui.table_next_column()
            imgui.text(name)
            imgui.table_next_column()
            imgui.text(f"{value:6.1f} ms")
        imgui.end_table()
    imgui.text(f"CPU memory (RSS): {stats.rss_mb:.0f} MB")
    imgui.text_wrapped(f"GPU memory: {stats.gpu_mem}")


def _model_section(state: AppState) -> None:
    model = state.model
    imgui.separator_text("model")
    _, model.path = imgui.input_text_with_hint("file", "shipped default", model.path)
    backend = BACKENDS.index(model.backend) if model.backend in BACKENDS else 0
    changed, backend = imgui.combo("backend", backend, list(BACKENDS))
    if changed:
        model.backend = BACKENDS[backend]
    changed, size = imgui.input_int2("size (w, h)", [model.width, model.height])
    if changed:
        model.width, model.height = max(16, size[0]), max(16, size[1])
    if imgui.button("load model"):
        state.request(Action.LOAD_MODEL)
