"""Pose sequences for playback and export, loaded through :mod:`smplpix_rt.body.sequence`.

The special name ``demo`` gives the library's built-in demo motion, so playback and the sequence
render can be tried without a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smplpix_rt.body.base import BodyModel
from smplpix_rt.contracts import BodyParams
from smplpix_rt.errors import InputError

DEMO_NAME = "demo"


@dataclass(frozen=True)
class LoadedSequence:
    """A sequence ready to sample.

    Attributes:
        name: what the panel shows (file name or ``demo``).
        fps: the sequence's own frame rate.
        duration_s: time of its last frame.
        sample: (time in seconds, base parameters) → body parameters at that time; the base
            supplies what the sequence does not animate (e.g. shape, expression).
    """

    name: str
    fps: float
    duration_s: float
    sample: Callable[[float, BodyParams], BodyParams]

    def params_at(self, time_s: float, base: BodyParams) -> BodyParams:
        return self.sample(min(max(time_s, 0.0), self.duration_s), base)


def load_sequence_file(path: str | Path, body: BodyModel) -> LoadedSequence:
    """Load a sequence file (or ``demo``) for ``body``.

    Raises:
        InputError: empty path, missing file, or a file the body model cannot use.
    """
    from smplpix_rt.body.sequence import demo_motion, load_sequence

    text = str(path).strip()
    if not text:
        raise InputError("enter a sequence file (.json, or AMASS .npz for SMPL-X) or 'demo' first")
    if text == DEMO_NAME:
        sequence, name = demo_motion(body), DEMO_NAME
    else:
        file = Path(text).expanduser()
        if not file.is_file():
            raise InputError(f"sequence file {file} does not exist")
        sequence, name = load_sequence(file, body), file.name
    return LoadedSequence(name, float(sequence.fps), float(sequence.duration_s), sequence.params_at)


__all__ = ["DEMO_NAME", "LoadedSequence", "load_sequence_file"]
