"""Partial redraws: which parts of the window a frame has to redraw (pure logic, no window)."""

from __future__ import annotations

import itertools

import pytest
from test_viewer_support import viewer_module

from smplpix_rt.errors import InputError

damage = viewer_module("damage")
DamageTracker, ListSignature, merge_boxes = damage.DamageTracker, damage.ListSignature, damage.merge_boxes
intersect, union, to_gl_rect, redraws_changes_only = (
    damage.intersect,
    damage.union,
    damage.to_gl_rect,
    damage.redraws_changes_only,
)


def _lists(**lists) -> list[ListSignature]:
    return [ListSignature(key, digest, bounds) for key, (digest, bounds) in lists.items()]


def test_the_first_frame_and_any_frame_after_invalidate_redraw_everything():
    tracker = DamageTracker()
    frame = _lists(panel=(1, (0, 0, 10, 10)))
    assert tracker.damage(frame) is None
    assert tracker.damage(frame) == []  # nothing changed
    tracker.invalidate()
    assert tracker.damage(frame) is None


def test_a_changed_list_damages_where_it_was_and_where_it_is():
    tracker = DamageTracker()
    tracker.damage(_lists(panel=(1, (0, 0, 10, 10)), hud=(2, (50, 50, 60, 60))))
    assert tracker.damage(_lists(panel=(1, (0, 0, 10, 10)), hud=(3, (55, 50, 65, 60)))) == [(50, 50, 65, 60)]
    # same checksum, other place (a moved window whose vertices the checksum missed cannot hide)
    assert tracker.damage(_lists(panel=(1, (0, 0, 10, 12)), hud=(3, (55, 50, 65, 60)))) == [(0, 0, 10, 12)]


def test_lists_that_appear_or_go_away_damage_their_bounds():
    tracker = DamageTracker()
    tracker.damage(_lists(panel=(1, (0, 0, 10, 10))))
    assert tracker.damage(_lists(panel=(1, (0, 0, 10, 10)), popup=(7, (20, 20, 40, 30)))) == [(20, 20, 40, 30)]
    assert tracker.damage(_lists(panel=(1, (0, 0, 10, 10)))) == [(20, 20, 40, 30)]
    # a list that draws nothing has no bounds and damages nothing
    assert tracker.damage(_lists(panel=(1, (0, 0, 10, 10)), empty=(0, None))) == []


def test_boxes_from_outside_imgui_join_the_damage():
    tracker = DamageTracker()
    frame = _lists(panel=(1, (0, 0, 10, 10)), hud=(2, (100, 5, 200, 15)))
    tracker.damage(frame)
    viewport = (100, 10, 300, 210)
    assert tracker.damage(frame, [viewport]) == [viewport]
    changed = _lists(panel=(1, (0, 0, 10, 10)), hud=(3, (100, 5, 200, 15)))
    assert tracker.damage(changed, [viewport]) == [(100, 5, 300, 210)]  # overlapping: one box


def test_duplicate_list_names_redraw_everything():
    tracker = DamageTracker()
    tracker.damage(_lists(panel=(1, (0, 0, 10, 10))))
    twins = [ListSignature("panel", 1, (0, 0, 10, 10)), ListSignature("panel", 2, (20, 0, 30, 10))]
    assert tracker.damage(twins) is None


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_merged_boxes_never_overlap_and_cover_every_box(order):
    boxes = [(0, 0, 10, 10), (20, 0, 30, 10), (5, 5, 25, 8)]  # the third joins the first two
    merged = merge_boxes([boxes[i] for i in order])
    assert merged == [(0, 0, 30, 10)]
    separate = merge_boxes([(0, 0, 10, 10), (20, 0, 30, 10)])
    assert sorted(separate) == [(0, 0, 10, 10), (20, 0, 30, 10)]


def test_box_helpers():
    assert union(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert union((0, 0, 1, 1), (2, 2, 3, 3)) == (0, 0, 3, 3)
    assert intersect((0, 0, 10, 10), (5, 5, 20, 20)) == (5, 5, 10, 10)
    assert intersect((0, 0, 10, 10), (10, 0, 20, 10)) is None  # touching edges share no pixel


def test_gl_rectangles_cover_the_box_from_the_bottom_left():
    assert to_gl_rect((10.5, 20.2, 30.1, 40.9), (1.0, 1.0), (100, 100)) == (10, 59, 21, 21)
    assert to_gl_rect((10, 20, 30, 40), (2.0, 2.0), (200, 200)) == (20, 120, 40, 40)
    assert to_gl_rect((-5, -5, 150, 300), (1.0, 1.0), (120, 100)) == (0, 0, 120, 100)  # clamped to the framebuffer


def test_partial_redraw_modes():
    assert redraws_changes_only("auto", software_gl=True, can_present_part=True)
    assert not redraws_changes_only("auto", software_gl=False, can_present_part=True)
    assert not redraws_changes_only("auto", software_gl=True, can_present_part=False)
    assert redraws_changes_only("on", software_gl=False, can_present_part=True)
    assert not redraws_changes_only("off", software_gl=True, can_present_part=True)
    with pytest.raises(InputError, match="GLX_MESA_copy_sub_buffer"):
        redraws_changes_only("on", software_gl=True, can_present_part=False)
    with pytest.raises(InputError, match="must be one of"):
        redraws_changes_only("sometimes", software_gl=True, can_present_part=True)
