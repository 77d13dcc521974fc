"""Widgets shared by several panels."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui


def named_sliders(
    names: tuple[str, ...], ranges: np.ndarray, values: np.ndarray, scope: str, fmt: str = "%.3f"
) -> np.ndarray | None:
    """One slider per named parameter within its range, labels kept readable.

    Args:
        names: parameter names (the slider labels).
        ranges: (N, 2) [min, max] per parameter.
        values: (N,) current values.
        scope: ImGui id scope, unique per panel.
        fmt: value format.

    Returns:
        (N,) float32 new values if a slider moved this frame, else None.
    """
    label_room = max((imgui.calc_text_size(n).x for n in names), default=0.0) + imgui.get_style().item_inner_spacing.x
    edited = None
    imgui.push_id(scope)
    imgui.push_item_width(-(label_room + 4))
    for i, name in enumerate(names):
        lo, hi = (float(v) for v in ranges[i])
        changed, value = imgui.slider_float(f"{name}##{i}", float(values[i]), lo, hi, fmt)
        if changed:
            edited = np.array(values, np.float32) if edited is None else edited
            edited[i] = value
    imgui.pop_item_width()
    imgui.pop_id()
    return edited
