"""Expression panel: every expression parameter of the active body model; presets; reset."""

from __future__ import annotations

from imgui_bundle import imgui

from ..state import AppState
from .shape import label_width


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
    expression = None
    imgui.push_item_width(-label_width(spec.expression_names))
    for i, name in enumerate(spec.expression_names):
        lo, hi = (float(v) for v in spec.expression_ranges[i])
        changed, value = imgui.slider_float(f"{name}##expr{i}", float(params.expression[i]), lo, hi, "%.2f")
        if changed:
            expression = params.expression.copy() if expression is None else expression
            expression[i] = value
    imgui.pop_item_width()
    if expression is not None:
        state.edit(params=params.replace(expression=expression))
