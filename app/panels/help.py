"""Help panel: mouse controls and the keyboard shortcuts."""

from __future__ import annotations

from imgui_bundle import imgui

from ..shortcuts import MOUSE_HELP, SHORTCUTS
from ..state import AppState


def help_panel(state: AppState) -> None:
    """List the controls (reads nothing from the state)."""
    del state
    _table("mouse (over the viewport)", MOUSE_HELP)
    imgui.spacing()
    _table("keys (not while typing in a field)", [(s.label, s.description) for s in SHORTCUTS])
    imgui.spacing()
    imgui.text_wrapped("Slider tip: Ctrl+click a slider to type an exact value.")


def _table(title: str, rows) -> None:
    imgui.separator_text(title)
    if imgui.begin_table(f"##{title}", 2, imgui.TableFlags_.row_bg.value):
        for key, description in rows:
            imgui.table_next_row()
            imgui.table_next_column()
            imgui.text(key)
            imgui.table_next_column()
            imgui.text(description)
        imgui.end_table()
