"""Shape panel: every shape parameter of the active body model within its range; randomize; reset."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from smplpix_rt.body import poses

from ..state import AppState
from .widgets import named_sliders


def random_shape(state: AppState, rng: np.random.Generator) -> np.ndarray:
    """(S,) float32 shape drawn around the neutral shape (sigma = range / 6), clipped to the ranges."""
    return poses.random_shape(state.spec, state.neutral.shape, rng)


def shape_panel(state: AppState) -> None:
    """Edit ``state.avatar.params.shape``."""
    spec, params = state.spec, state.params
    if imgui.button("randomize"):
        state.edit(params=params.replace(shape=random_shape(state, np.random.default_rng())))
    imgui.same_line()
    if imgui.button("reset shape"):
        state.edit(params=params.replace(shape=state.neutral.shape))
    imgui.separator()
    shape = named_sliders(spec.shape_names, spec.shape_ranges, params.shape, "shape")
    if shape is not None:
        state.edit(params=params.replace(shape=shape))
