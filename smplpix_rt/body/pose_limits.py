"""Suggested per-joint pose ranges (degrees) for sliders and random poses.

Pose rows are axis-angle vectors about world-aligned axes at the joint (x: towards the body's
left, y: up, z: forwards), so each range bounds one component of the rotation vector. The
ranges are written for the left side and mirrored for the right side (x kept, y and z negated);
they are plausible human ranges, not anatomical constraints, and ``forward`` never clamps to them.

Sign reminders for a joint whose child segment hangs down (-y): a negative x rotation swings it
forwards (hip flexion, arm swing), a positive x rotation swings it backwards (knee flexion);
a positive z rotation moves a left segment outwards (+x).
"""

from __future__ import annotations

import re

import numpy as np

Range3 = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


def _r(x, y, z) -> Range3:
    def pair(v):
        return (-float(v), float(v)) if np.isscalar(v) else (float(v[0]), float(v[1]))

    return (pair(x), pair(y), pair(z))


# Rules are (regex on the left-side or unsided joint name, ranges); the first match wins.
_ANNY_RULES: list[tuple[str, Range3]] = [
    (r"^root$", _r(180, 180, 180)),
    (r"^pelvis\.L$", _r(10, 10, 10)),
    (r"^upperleg01\.L$", _r((-120, 40), 40, (-25, 70))),
    (r"^upperleg02\.L$", _r(10, 30, 10)),
    (r"^lowerleg01\.L$", _r((-5, 150), 10, 10)),
    (r"^lowerleg02\.L$", _r(5, 20, 5)),
    (r"^foot\.L$", _r((-30, 50), 25, 25)),
    (r"^toe\d-\d\.L$", _r((-40, 60), 5, 5)),
    (r"^spine0\d$", _r((-15, 30), 20, 15)),
    (r"^neck0\d$", _r((-20, 25), 25, 15)),
    (r"^head$", _r(30, 45, 25)),
    (r"^eye\.L$", _r(25, 35, 0)),
    (r"^clavicle\.L$", _r(15, 20, (-10, 30))),
    (r"^shoulder01\.L$", _r(15, 15, 15)),
    (r"^upperarm01\.L$", _r((-120, 60), 90, (-45, 135))),
    (r"^upperarm02\.L$", _r(30, 30, 5)),
    (r"^lowerarm01\.L$", _r((-110, 10), (-100, 10), 20)),
    (r"^lowerarm02\.L$", _r(40, 40, 40)),
    (r"^wrist\.L$", _r(50, 50, 50)),
    (r"^metacarpal\d\.L$", _r(10, 10, 10)),
    (r"^finger1-\d\.L$", _r(40, 40, 40)),
    (r"^finger\d-\d\.L$", _r(60, 60, 60)),
]

_SMPLX_RULES: list[tuple[str, Range3]] = [
    (r"^pelvis$", _r(180, 180, 180)),
    (r"^left_hip$", _r((-120, 40), 40, (-25, 70))),
    (r"^left_knee$", _r((-5, 150), 10, 10)),
    (r"^left_ankle$", _r((-30, 50), 25, 25)),
    (r"^left_foot$", _r((-40, 60), 5, 5)),
    (r"^spine\d$", _r((-25, 45), 30, 25)),
    (r"^neck$", _r((-30, 40), 45, 30)),
    (r"^head$", _r(30, 45, 30)),
    (r"^jaw$", _r((-5, 30), 10, 10)),
    (r"^left_eye_smplhf$", _r(25, 35, 0)),
    (r"^left_collar$", _r(15, 20, (-10, 30))),
    (r"^left_shoulder$", _r(90, (-120, 45), 90)),
    (r"^left_elbow$", _r(30, (-150, 10), 20)),
    (r"^left_wrist$", _r(60, 60, 60)),
    (r"^left_thumb\d$", _r(45, 45, 45)),
    (r"^left_(index|middle|ring|pinky)\d$", _r(15, 20, (-90, 15))),
]


def mirror_name(name: str) -> str | None:
    """The opposite side's joint name (Anny ``.L``/``.R``, SMPL-X ``left_``/``right_``), or None if unsided."""
    for a, b in ((".L", ".R"), (".R", ".L")):
        if name.endswith(a):
            return name[: -len(a)] + b
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(a):
            return b + name[len(a) :]
    return None


def _is_right(name: str) -> bool:
    return name.endswith(".R") or name.startswith("right_")


def mirror_range(ranges: np.ndarray) -> np.ndarray:
    """(..., 3, 2) ranges of the mirrored rotation (x kept, y and z negated, bounds swapped)."""
    out = np.array(ranges, np.float32, copy=True)
    out[..., 1:, :] = -ranges[..., 1:, ::-1]
    return out


def _limits(joint_names, rules, default: float) -> np.ndarray:
    limits = np.empty((len(joint_names), 3, 2), np.float32)
    for j, name in enumerate(joint_names):
        right = _is_right(name)
        key = mirror_name(name) if right else name
        ranges = next((np.asarray(r, np.float32) for pattern, r in rules if re.match(pattern, key)), None)
        if ranges is None:
            ranges = np.array([[-default, default]] * 3, np.float32)
        limits[j] = mirror_range(ranges) if right else ranges
    return limits


def anny_pose_limits(joint_names) -> np.ndarray:
    """(J, 3, 2) float32 suggested ranges in degrees for Anny's bones."""
    return _limits(joint_names, _ANNY_RULES, default=20.0)


def smplx_pose_limits(joint_names) -> np.ndarray:
    """(J, 3, 2) float32 suggested ranges in degrees for SMPL-X joints."""
    return _limits(joint_names, _SMPLX_RULES, default=20.0)
