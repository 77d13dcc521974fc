"""Expression panel: every expression parameter of the active body model; presets; reset."""

from __future__ import annotations

from imgui_bundle import imgui

from ..state import AppState
from .widgets import named_sliders


def expression_panel(state: AppState) -> None:
    """Edit ``state.avatar.params.expression``."""
    spec, params, presets = state.spec, state.params, state.extras.expression_presets
    if spec.num_expression == 0:
        imgui.text_disabled(f"the {spec.name} body model has no expression parameters")
        return
    for i, name in enumerate(presets):
        if i:
            imgui.same_line()
            if imgui.get_content_region_avail().x < imgui.calc_text_size(name).x + 16:
                imgui.new_line()
        if imgui.button(name):
            state.edit(params=params.replace(expression=presets[name]))
    if imgui.button("reset expression"):
        state.edit(params=params.replace(expression=state.neutral.expression))
    imgui.separator()
    expression = named_sliders(spec.expression_names, spec.expression_ranges, params.expression, "expr", "%.2f")
    if expression is not None:
        state.edit(params=params.replace(expression=expression))
