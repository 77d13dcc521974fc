"""Pose panel: presets, mirror, reset, the selected joint's sliders and the joint tree by group."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from ..state import AppState

AXES = ("x", "y", "z")


def pose_panel(state: AppState) -> None:
    """Edit ``state.avatar.params.pose`` (axis-angle per joint, shown in degrees)."""
    _toolbar(state)
    imgui.separator_text(f"selected: {state.spec.joint_names[state.selected_joint]}")
    _joint_sliders(state, state.selected_joint, "sel")
    imgui.separator()
    imgui.set_next_item_width(-1)
    _, state.pose_filter = imgui.input_text_with_hint("##filter", "filter joints by name", state.pose_filter)
    if state.pose_filter.strip():
        _filtered_list(state, state.pose_filter.strip().lower())
        return
    for group in state.extras.groups:
        if imgui.collapsing_header(
            f"{group.name} ({group.size})", imgui.TreeNodeFlags_.default_open.value if group.name == "Body" else 0
        ):
            for root in group.roots:
                _joint_tree(state, group.children, root)


def _toolbar(state: AppState) -> None:
    extras, params = state.extras, state.params
    names = list(extras.pose_presets)
    if names:
        imgui.set_next_item_width(150)
        if imgui.begin_combo("##preset", "pose preset..."):
            for name in names:
                if imgui.selectable(name, False)[0]:
                    state.edit(params=params.replace(pose=extras.pose_presets[name]))
            imgui.end_combo()
        imgui.same_line()
    if imgui.button("reset all"):
        state.edit(params=params.replace(pose=state.neutral.pose))
    if extras.mirror is not None:
        imgui.same_line()
        if imgui.button("mirror"):
            state.edit(params=params.replace(pose=extras.mirror(params.pose)))
        imgui.set_item_tooltip("swap the left and right sides of the pose (a mirror image)")


def _joint_sliders(state: AppState, joint: int, scope: str) -> None:
    """Three degree sliders of one joint within its limits, and a reset button."""
    limits = state.spec.pose_limits_deg[joint]
    degrees = np.degrees(state.params.pose[joint].astype(np.float64))
    new = None
    imgui.push_id(f"{scope}{joint}")
    width = max(60.0, (imgui.get_content_region_avail().x - 60) / 3 - 4)
    for axis in range(3):
        if axis:
            imgui.same_line()
        imgui.set_next_item_width(width)
        lo, hi = float(limits[axis, 0]), float(limits[axis, 1])
        changed, value = imgui.slider_float(f"##{AXES[axis]}", float(degrees[axis]), lo, hi, f"{AXES[axis]} %.1f")
        if changed:
            new = degrees.copy() if new is None else new
            new[axis] = value
    imgui.same_line()
    if imgui.small_button("reset"):
        new = np.degrees(state.neutral.pose[joint].astype(np.float64))
    imgui.pop_id()
    if new is not None:
        pose = state.params.pose.copy()
        pose[joint] = np.radians(new)
        state.edit(params=state.params.replace(pose=pose))


def _joint_tree(state: AppState, children: dict[int, tuple[int, ...]], joint: int) -> None:
    flags = imgui.TreeNodeFlags_.open_on_arrow.value | imgui.TreeNodeFlags_.span_avail_width.value
    if joint == state.selected_joint:
        flags |= imgui.TreeNodeFlags_.selected.value
    edited = bool(np.any(state.params.pose[joint] != state.neutral.pose[joint]))
    label = f"{state.spec.joint_names[joint]}{' *' if edited else ''}###joint{joint}"
    opened = imgui.tree_node_ex(label, flags)
    if imgui.is_item_clicked() and not imgui.is_item_toggled_open():
        state.selected_joint = joint
    if opened:
        _joint_sliders(state, joint, "tree")
        for child in children.get(joint, ()):
            _joint_tree(state, children, child)
        imgui.tree_pop()


def _filtered_list(state: AppState, text: str) -> None:
    for joint, name in enumerate(state.spec.joint_names):
        if text in name.lower():
            if imgui.selectable(f"{name}##flt{joint}", joint == state.selected_joint)[0]:
                state.selected_joint = joint
            _joint_sliders(state, joint, "flt")
