"""When the UI loop draws its next frame: at the frame-rate cap, with the neural frames, or on demand.

The loop never spins. After each frame it picks one of three paces from what is going on:

- :attr:`Pace.CAP`: draw again one frame period after this frame started. Input arriving meanwhile
  is processed but does not start the frame early, so a fast mouse cannot drive the loop past
  ``--max-fps``.
- :attr:`Pace.FOLLOW`: draw again when the render worker has finished its frame or can start on
  the next one (at the cap at the earliest, and at least every :data:`FOLLOW_MAX_WAIT_S`). With
  overlapping stages the worker can start on the next edit while the generator still runs the
  previous one, so drawing then keeps both stages busy. While the user drags a slider the
  avatar can only change once per neural frame, so one UI frame per neural frame shows every
  change. Under a software OpenGL driver each UI frame costs ~10 ms of the same CPU the pipeline
  runs on: drawing it once per neural frame instead of at 60 Hz frees that time and puts the
  edits in step with the worker (an edit is submitted the moment the worker becomes free). This
  is the ``frames`` UI pacing, the default under software OpenGL.
- :attr:`Pace.IDLE`: sleep until input, a finished frame, a signal or a timer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: Longest wait for a neural frame in :attr:`Pace.FOLLOW` before the UI draws anyway.
FOLLOW_MAX_WAIT_S = 0.1
#: Values of ``--ui-pacing``.
UI_PACINGS = ("auto", "cap", "frames")
#: Values of ``--overlap-stages``: when the render worker's stages overlap (see ``RenderSession``).
OVERLAP_MODES = ("auto", "on", "off")


class Pace(enum.Enum):
    CAP = "cap"
    FOLLOW = "follow"
    IDLE = "idle"


@dataclass(frozen=True)
class LoopStatus:
    """What the UI loop knows after drawing a frame.

    Attributes:
        interacting: user input in the last few frames, or scripted edits still running.
        due: something needs the next frame at the cap: queued actions, an export, a timer.
        edited: pose, shape, expression or camera changed and not submitted to the worker yet.
        playing: a sequence is playing.
        worker_ready: the render worker can start on a new request now: nothing waits and its first
            stage is free (with overlapping stages the generator may still be busy).
        follow_frames: the ``frames`` UI pacing is in effect.
    """

    interacting: bool = False
    due: bool = False
    edited: bool = False
    playing: bool = False
    worker_ready: bool = True
    follow_frames: bool = False


def next_pace(status: LoopStatus) -> Pace:
    """The pace of the next frame (see the module docstring)."""
    if status.due:
        return Pace.CAP
    if status.interacting or status.edited:
        return Pace.FOLLOW if status.follow_frames and not status.worker_ready else Pace.CAP
    if status.playing:  # the next pose goes to the worker as soon as it is free, not earlier
        return Pace.CAP if status.worker_ready else Pace.IDLE
    return Pace.IDLE


def follows_frames(pacing: str, software_gl: bool) -> bool:
    """Whether ``--ui-pacing`` ``pacing`` draws once per neural frame while the worker is busy.

    Raises:
        ValueError: ``pacing`` is not one of :data:`UI_PACINGS`.
    """
    if pacing not in UI_PACINGS:
        raise ValueError(f"UI pacing must be one of {', '.join(UI_PACINGS)}, got {pacing!r}")
    return pacing == "frames" or (pacing == "auto" and software_gl)


__all__ = ["FOLLOW_MAX_WAIT_S", "OVERLAP_MODES", "UI_PACINGS", "LoopStatus", "Pace", "follows_frames", "next_pace"]
