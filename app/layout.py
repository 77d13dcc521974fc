"""The window's frame: the dock space with its default layout, and the main menu bar."""

from __future__ import annotations

from imgui_bundle import imgui

from .shortcuts import CAMERA_PRESETS, set_camera_preset
from .state import PANELS, Action, AppState, ViewMode

LEFT_PANELS = ("Pose", "Shape", "Expression")
RIGHT_TOP_PANELS = ("Render", "Camera", "Help")
RIGHT_BOTTOM_PANELS = ("Record", "Sequence")
#: The tab shown first in each dock node.
FRONT_PANELS = ("Pose", "Render", "Record")


class DockLayout:
    """The dock space over the whole window; its empty central node is the viewport.

    The first frame builds the default layout: Pose / Shape / Expression on the left,
    Render / Camera / Help top right, Record / Sequence bottom right. Panels can be re-docked or
    floated afterwards (the layout is not saved between runs).
    """

    def __init__(self) -> None:
        self._built = False
        self._frames = 0
        self._docked: dict[str, bool] = {}

    def begin(self) -> tuple[int, int, int, int]:
        """Submit the dock space; returns the central node's (x, y, width, height), top-left origin."""
        flags = imgui.DockNodeFlags_.passthru_central_node.value
        # The docked panels paint their own background: a transparent host background is skipped
        # by ImGui instead of being filled (and blended) once more under every panel.
        imgui.push_style_color(imgui.Col_.window_bg, imgui.ImVec4(0.0, 0.0, 0.0, 0.0))
        dock_id = imgui.dock_space_over_viewport(0, None, flags)
        imgui.pop_style_color()
        if not self._built:
            self._build(dock_id)
            self._built = True
        self._frames += 1
        node = imgui.internal.dock_builder_get_central_node(dock_id)
        if node is None:
            viewport = imgui.get_main_viewport()
            return (
                int(viewport.work_pos.x),
                int(viewport.work_pos.y),
                int(viewport.work_size.x),
                int(viewport.work_size.y),
            )
        return int(node.pos.x), int(node.pos.y), max(1, int(node.size.x)), max(1, int(node.size.y))

    def begin_panel(self, name: str) -> tuple[bool, bool]:
        """``imgui.begin`` of a panel window with a close button; returns (expanded, still open).

        In the first frames the front tab of each dock node is selected (see :data:`FRONT_PANELS`):
        a docked tab becomes the selected one when its window holds the focus at the node's next
        update, so the windows are focused one per frame.

        A panel that was docked in the previous frame paints no background: the window is cleared
        to the panel colour before ImGui draws (see ``Controller.draw_viewport``), and docked
        panels never overlap anything else. Under a software rasterizer this skips filling and
        blending about half the window every frame (~3 ms of llvmpipe time at 1280x800). Floating
        panels keep their background.
        """
        if 2 <= self._frames < 2 + len(FRONT_PANELS) and FRONT_PANELS[self._frames - 2] == name:
            imgui.set_next_window_focus()
        if self._docked.get(name, True):  # docked (the default layout docks every panel): see below
            imgui.set_next_window_bg_alpha(0.0)
        result = imgui.begin(name, True)
        self._docked[name] = imgui.is_window_docked()
        return result

    @staticmethod
    def _build(dock_id: int) -> None:
        internal = imgui.internal
        viewport = imgui.get_main_viewport()
        internal.dock_builder_remove_node(dock_id)
        internal.dock_builder_add_node(
            dock_id,
            internal.DockNodeFlagsPrivate_.dock_space.value | imgui.DockNodeFlags_.passthru_central_node.value,
        )
        internal.dock_builder_set_node_size(dock_id, viewport.work_size)
        left, _, rest = internal.dock_builder_split_node_py(dock_id, imgui.Dir.left, 0.25)
        right, _, _ = internal.dock_builder_split_node_py(rest, imgui.Dir.right, 0.32)
        right_bottom, _, right_top = internal.dock_builder_split_node_py(right, imgui.Dir.down, 0.42)
        for names, node in ((LEFT_PANELS, left), (RIGHT_TOP_PANELS, right_top), (RIGHT_BOTTOM_PANELS, right_bottom)):
            for name in names:
                internal.dock_builder_dock_window(name, node)
        internal.dock_builder_finish(dock_id)


def main_menu(state: AppState) -> None:
    """File / Edit / View / Panels menus."""
    if not imgui.begin_main_menu_bar():
        return
    if imgui.begin_menu("File"):
        imgui.set_next_item_width(260)
        _, state.state_path = imgui.input_text("state file", state.state_path)
        if imgui.menu_item("save state", "Ctrl+S", False)[0]:
            state.request(Action.SAVE_STATE)
        if imgui.menu_item("load state", "Ctrl+O", False)[0]:
            state.request(Action.LOAD_STATE)
        imgui.separator()
        if imgui.menu_item("screenshot viewport", "F12", False)[0]:
            state.request(Action.SCREENSHOT_VIEW)
        if imgui.menu_item("screenshot window", "Shift+F12", False)[0]:
            state.request(Action.SCREENSHOT_WINDOW)
        imgui.separator()
        if imgui.menu_item("quit", "Ctrl+Q", False)[0]:
            state.request(Action.QUIT)
        imgui.end_menu()
    if imgui.begin_menu("Edit"):
        if imgui.menu_item("undo", "Ctrl+Z", False, state.history.can_undo or state.uncommitted)[0]:
            state.request(Action.UNDO)
        if imgui.menu_item("redo", "Ctrl+Y", False, state.history.can_redo)[0]:
            state.request(Action.REDO)
        imgui.end_menu()
    if imgui.begin_menu("View"):
        for i, mode in enumerate(ViewMode):
            if imgui.menu_item(mode.value, str(i + 1), state.view.mode is mode)[0]:
                state.view.mode = mode
        imgui.separator()
        for name in CAMERA_PRESETS:
            if imgui.menu_item(f"camera: {name}", "", False)[0]:
                set_camera_preset(state, name)
        imgui.separator()
        state.view.show_hud = imgui.menu_item("HUD", "H", state.view.show_hud)[1]
        state.view.whole_pixels = imgui.menu_item("whole-pixel zoom", "Z", state.view.whole_pixels)[1]
        imgui.end_menu()
    if imgui.begin_menu("Panels"):
        for name in PANELS:
            state.panels[name] = imgui.menu_item(name, "", state.panels[name])[1]
        imgui.end_menu()
    imgui.end_main_menu_bar()
