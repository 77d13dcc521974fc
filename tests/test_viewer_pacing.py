"""The UI loop's pacing policy: at the cap, with the neural frames, or on demand."""

from __future__ import annotations

import pytest
from test_viewer_support import viewer_module

pacing = viewer_module("pacing")
LoopStatus, Pace, follows_frames, next_pace = pacing.LoopStatus, pacing.Pace, pacing.follows_frames, pacing.next_pace


def test_nothing_going_on_sleeps_until_something_happens():
    assert next_pace(LoopStatus()) is Pace.IDLE


@pytest.mark.parametrize("follow", [False, True])
def test_a_due_action_or_timer_is_drawn_at_the_cap(follow):
    assert next_pace(LoopStatus(due=True, worker_ready=False, interacting=True, follow_frames=follow)) is Pace.CAP


def test_edits_follow_the_neural_frames_only_while_the_worker_is_busy_and_the_policy_says_so():
    busy = LoopStatus(interacting=True, worker_ready=False, follow_frames=True)
    assert next_pace(busy) is Pace.FOLLOW
    assert next_pace(LoopStatus(edited=True, worker_ready=False, follow_frames=True)) is Pace.FOLLOW
    assert next_pace(LoopStatus(interacting=True, worker_ready=True, follow_frames=True)) is Pace.CAP
    assert next_pace(LoopStatus(interacting=True, worker_ready=False, follow_frames=False)) is Pace.CAP


def test_playback_hands_the_next_pose_over_when_the_worker_is_free():
    assert next_pace(LoopStatus(playing=True, worker_ready=True)) is Pace.CAP
    assert next_pace(LoopStatus(playing=True, worker_ready=False)) is Pace.IDLE


def test_ui_pacing_option():
    assert follows_frames("auto", software_gl=True) and not follows_frames("auto", software_gl=False)
    assert follows_frames("frames", software_gl=False) and not follows_frames("cap", software_gl=True)
    with pytest.raises(ValueError, match="UI pacing must be one of"):
        follows_frames("fast", software_gl=True)
