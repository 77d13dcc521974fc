"""Pose sequences: our JSON format, AMASS-style ``.npz`` for SMPL-X, and a built-in demo motion.

JSON format (UTF-8, one object)::

    {
      "format": "smplpix-pose-sequence",   # required
      "version": 1,                         # required
      "body_model": "anny",                 # body model name (spec.name); must match the body used
      "fps": 30,                            # frames per second, > 0
      "shape": {"height": 0.7},             # optional, all frames: {name: value} or a full list
      "expression": {"mouthSmileLeft": 0.5},  # optional, all frames, same forms
      "frames": [                           # at least one frame
        {
          "pose": {"lowerarm01.L": [0.0, -45.0, 0.0]},  # joint name -> axis-angle in DEGREES;
                                                        # joints left out stay at zero
          "translation": [0.0, 0.0, 0.0],   # optional, metres (default 0)
          "shape": {...},                   # optional per-frame override, same forms as above
          "expression": {...}               # optional per-frame override
        }
      ]
    }

Shape and expression entries given by name default to the body's neutral values for names left
out. A sequence without any shape (or expression, or translation) leaves that part to the caller:
:meth:`PoseSequence.params_at` takes it from a base :class:`BodyParams`.

AMASS-style ``.npz`` (SMPL-X body only): ``poses`` (N, 165) SMPL-X, (N, 156) SMPL-H or (N, 66)
body-only axis-angle in radians (or ``root_orient`` + ``pose_body`` [+ ``pose_jaw``, ``pose_eye``,
``pose_hand``]), optional ``trans`` (N, 3), ``betas`` (B,), ``expression`` (N, E), and the frame
rate in ``mocap_frame_rate`` or ``mocap_framerate``. AMASS is Z-up: by default the motion is
rotated into our Y-up frame (``up_axis="z"``) and the translation adapted so that the body keeps
its AMASS height above the floor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplpix_rt.body import skinning as sk
from smplpix_rt.body.base import BodyModel
from smplpix_rt.contracts import BodyParams, BodySpec
from smplpix_rt.errors import InputError

FORMAT_NAME = "smplpix-pose-sequence"
FORMAT_VERSION = 1
# Z-up (AMASS) to our Y-up frame: (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True, eq=False)
class PoseSequence:
    """A motion for one body model, as stacked per-frame arrays.

    Attributes:
        body: body model name (``spec.name``).
        fps: frames per second.
        poses: (N, J, 3) float32 axis-angle in radians.
        translations: (N, 3) float32 metres, or None (taken from the base parameters).
        shapes: (N, S) float32, or None (taken from the base parameters).
        expressions: (N, E) float32, or None (taken from the base parameters).
    """

    body: str
    fps: float
    poses: np.ndarray
    translations: np.ndarray | None = None
    shapes: np.ndarray | None = None
    expressions: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    @property
    def duration_s(self) -> float:
        """Time of the last frame in seconds."""
        return (len(self) - 1) / self.fps

    def frame_params(self, index: int, base: BodyParams) -> BodyParams:
        """Parameters of frame ``index``; parts the sequence does not hold come from ``base``."""
        return self._params(index, index, 0.0, base)

    def params_at(self, time_s: float, base: BodyParams) -> BodyParams:
        """Parameters at ``time_s`` (clamped to the sequence), interpolated between frames.

        Rotations are interpolated per joint along the shortest arc, everything else linearly;
        parts the sequence does not hold come from ``base``.
        """
        position = min(max(float(time_s) * self.fps, 0.0), len(self) - 1.0)
        first = int(math.floor(position))
        second = min(first + 1, len(self) - 1)
        return self._params(first, second, position - first, base)

    def _params(self, a: int, b: int, t: float, base: BodyParams) -> BodyParams:
        def lerp(values: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
            if values is None:
                return fallback
            return values[a] if t == 0.0 else ((1 - t) * values[a] + t * values[b]).astype(np.float32)

        pose = self.poses[a] if t == 0.0 else _slerp_rotvecs(self.poses[a], self.poses[b], t)
        return BodyParams(
            pose=np.asarray(pose, np.float32),
            shape=lerp(self.shapes, base.shape),
            expression=lerp(self.expressions, base.expression),
            translation=lerp(self.translations, base.translation),
        )


def _slerp_rotvecs(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Per-row shortest-arc interpolation between two (J, 3) axis-angle arrays."""
    ra, rb = sk.axis_angle_to_matrix(a.astype(np.float64)), sk.axis_angle_to_matrix(b.astype(np.float64))
    delta = sk.matrix_to_axis_angle(np.swapaxes(ra, -1, -2) @ rb)
    return sk.matrix_to_axis_angle(ra @ sk.axis_angle_to_matrix(delta * t)).astype(np.float32)


# ---------------------------------------------------------------------------------------- loading


def load_sequence(path: str | Path, body: BodyModel, fps: float | None = None, up_axis: str = "z") -> PoseSequence:
    """Load a ``.json`` sequence (any body) or an AMASS-style ``.npz`` (SMPL-X body).

    Args:
        path: the file.
        body: the body model the sequence will drive (names and sizes are checked against it).
        fps: override the file's frame rate (required for ``.npz`` files without one).
        up_axis: ``.npz`` only: ``"z"`` (AMASS, rotated into our Y-up frame) or ``"y"`` (as is).

    Raises:
        InputError: missing or malformed file, wrong body model, unknown joint or parameter
            names, wrong sizes, NaN / infinite values; the message names the file and entry.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"sequence file {path} not found")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise InputError(f"sequence frame rate must be positive, got {fps}")
    if path.suffix.lower() == ".json":
        sequence = _load_json(path, body.spec)
        return sequence if fps is None else _with_fps(sequence, fps)
    if path.suffix.lower() == ".npz":
        return _load_amass(path, body, fps, up_axis)
    raise InputError(f"{path}: unknown sequence format {path.suffix!r} (expected .json, or .npz for SMPL-X)")


def _with_fps(sequence: PoseSequence, fps: float) -> PoseSequence:
    return PoseSequence(
        sequence.body, float(fps), sequence.poses, sequence.translations, sequence.shapes, sequence.expressions
    )


def _finite_vector(path: Path, where: str, value, size: int) -> np.ndarray:
    try:
        a = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {where} must be a list of {size} numbers") from None
    if a.shape != (size,):
        raise InputError(f"{path}: {where} must have {size} numbers, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{path}: {where} contains NaN or infinite values")
    return a.astype(np.float32)


def _named_values(path: Path, where: str, value, names: tuple[str, ...], defaults: np.ndarray) -> np.ndarray:
    """A full list, or {name: value} completed with ``defaults``."""
    if isinstance(value, dict):
        out = defaults.astype(np.float32).copy()
        index = {n: i for i, n in enumerate(names)}
        for name, v in value.items():
            if name not in index:
                raise InputError(f"{path}: {where} has unknown name {name!r} (known: {', '.join(names[:8])}, ...)")
            out[index[name]] = _finite_vector(path, f"{where}[{name!r}]", [v], 1)[0]
        return out
    return _finite_vector(path, where, value, len(names))


def _read_header(path: Path, spec: BodySpec) -> dict:
    """The parsed document, with its format, version, body, fps and frame list checked."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise InputError(f'{path}: not a pose sequence (expected "format": "{FORMAT_NAME}")')
    if doc.get("version") != FORMAT_VERSION:
        raise InputError(f"{path}: sequence format version {doc.get('version')!r}, this reader reads {FORMAT_VERSION}")
    if doc.get("body_model") != spec.name:
        raise InputError(
            f"{path}: made for the {doc.get('body_model')!r} body model, but the {spec.name!r} body is in use"
        )
    fps = doc.get("fps")
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not math.isfinite(fps) or fps <= 0:
        raise InputError(f"{path}: fps must be a positive number, got {fps!r}")
    if not isinstance(doc.get("frames"), list) or not doc["frames"]:
        raise InputError(f"{path}: frames must be a non-empty list")
    return doc


def _frame_pose(path: Path, where: str, frame, spec: BodySpec) -> np.ndarray:
    """(J, 3) radians from a frame's {joint: [x, y, z] degrees}."""
    if not isinstance(frame, dict):
        raise InputError(f"{path}: {where} must be an object")
    pose = frame.get("pose", {})
    if not isinstance(pose, dict):
        raise InputError(f"{path}: {where}.pose must map joint names to [x, y, z] degrees")
    joints = {n: i for i, n in enumerate(spec.joint_names)}
    out = np.zeros((spec.num_joints, 3), np.float32)
    for name, value in pose.items():
        if name not in joints:
            raise InputError(f"{path}: {where}.pose has unknown joint {name!r} for the {spec.name} body")
        out[joints[name]] = np.deg2rad(_finite_vector(path, f"{where}.pose[{name!r}]", value, 3))
    return out


def _load_json(path: Path, spec: BodySpec) -> PoseSequence:
    doc = _read_header(path, spec)
    frames = doc["frames"]
    defaults = {
        "shape": spec.shape_defaults.astype(np.float32),
        "expression": np.zeros(spec.num_expression, np.float32),
    }
    names = {"shape": spec.shape_names, "expression": spec.expression_names}
    # Sequence-wide values (None if absent), then per-frame overrides on top of them.
    common = {k: _named_values(path, k, doc[k], names[k], defaults[k]) if k in doc else None for k in names}
    poses = np.stack([_frame_pose(path, f"frames[{k}]", frame, spec) for k, frame in enumerate(frames)])
    columns: dict[str, list] = {"shape": [], "expression": [], "translation": []}
    for k, frame in enumerate(frames):
        t = frame.get("translation")
        columns["translation"].append(None if t is None else _finite_vector(path, f"frames[{k}].translation", t, 3))
        for key in names:
            value, base = frame.get(key), common[key] if common[key] is not None else defaults[key]
            parsed = None if value is None else _named_values(path, f"frames[{k}].{key}", value, names[key], base)
            columns[key].append(common[key] if parsed is None else parsed)
    return PoseSequence(
        body=spec.name,
        fps=float(doc["fps"]),
        poses=poses,
        translations=_stack(columns["translation"], np.zeros(3, np.float32)),
        shapes=_stack(columns["shape"], defaults["shape"]),
        expressions=_stack(columns["expression"], defaults["expression"]),
    )


def _stack(rows: list, fill: np.ndarray) -> np.ndarray | None:
    """Stack per-frame rows; None if no frame has one, ``fill`` where a frame has none."""
    if all(r is None for r in rows):
        return None
    return np.stack([fill if r is None else r for r in rows]).astype(np.float32)


def _amass_array(path: Path, npz, key: str, shape_tail: tuple[int, ...] | None = None) -> np.ndarray:
    a = np.asarray(npz[key], np.float64)
    if shape_tail is not None and (a.ndim != 1 + len(shape_tail) or a.shape[1:] != shape_tail):
        raise InputError(f"{path}: {key} must have shape (N, {', '.join(map(str, shape_tail))}), got {a.shape}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise InputError(f"{path}: {key} contains NaN or infinite values (first at index {tuple(bad.tolist())})")
    return a


def _amass_poses(path: Path, npz) -> np.ndarray:
    """(N, 55, 3) SMPL-X-ordered axis-angle from the supported AMASS layouts (missing joints zero)."""
    if "poses" in npz:
        flat = _amass_array(path, npz, "poses")
        if flat.ndim != 2 or flat.shape[1] not in (165, 156, 66):
            raise InputError(f"{path}: poses must have shape (N, 165), (N, 156) or (N, 66), got {flat.shape}")
        joints = flat.reshape(len(flat), -1, 3)
        out = np.zeros((len(flat), 55, 3))
        if joints.shape[1] == 55:
            out[:] = joints
        else:  # SMPL-H (22 body + 30 hand joints) or body only: no jaw / eyes
            out[:, :22] = joints[:, :22]
            if joints.shape[1] == 52:
                out[:, 25:55] = joints[:, 22:52]
        return out
    if "root_orient" not in npz or "pose_body" not in npz:
        raise InputError(f"{path}: no 'poses' (or 'root_orient' + 'pose_body') array: not an AMASS-style file")
    root = _amass_array(path, npz, "root_orient", (3,))
    out = np.zeros((len(root), 55, 3))
    out[:, 0] = root
    out[:, 1:22] = _amass_array(path, npz, "pose_body", (63,)).reshape(-1, 21, 3)
    for key, first, size in (("pose_jaw", 22, 3), ("pose_eye", 23, 6), ("pose_hand", 25, 90)):
        if key in npz:
            out[:, first : first + size // 3] = _amass_array(path, npz, key, (size,)).reshape(len(root), -1, 3)
    return out


def _load_amass(path: Path, body: BodyModel, fps: float | None, up_axis: str) -> PoseSequence:
    spec = body.spec
    if spec.name != "smplx":
        raise InputError(
            f"{path}: AMASS-style .npz files hold SMPL-X / SMPL-H poses; use them with the smplx body, "
            f"not {spec.name!r}"
        )
    if up_axis not in ("y", "z"):
        raise InputError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    try:
        npz = dict(np.load(path, allow_pickle=False))
    except Exception as exc:  # zip / format errors
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    poses = _amass_poses(path, npz)
    n = len(poses)
    trans = _amass_array(path, npz, "trans", (3,)) if "trans" in npz else np.zeros((n, 3))
    if len(trans) != n:
        raise InputError(f"{path}: trans has {len(trans)} frames, poses has {n}")
    if fps is None:
        rate = next((npz[k] for k in ("mocap_frame_rate", "mocap_framerate") if k in npz), None)
        if rate is None:
            raise InputError(f"{path}: no frame rate (mocap_frame_rate); pass fps explicitly")
        fps = float(rate)
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"{path}: mocap_frame_rate must be positive, got {fps}")
    shape = spec.shape_defaults.astype(np.float32).copy()
    if "betas" in npz:
        betas = _amass_array(path, npz, "betas").reshape(-1)
        count = min(betas.size, spec.num_shape)
        shape[:count] = betas[:count]
    expressions = None
    if "expression" in npz and spec.num_expression:
        raw = _amass_array(path, npz, "expression")
        if raw.ndim != 2 or len(raw) != n:
            raise InputError(f"{path}: expression must have shape (N, E) with N = {n}, got {raw.shape}")
        expressions = np.zeros((n, spec.num_expression), np.float32)
        count = min(raw.shape[1], spec.num_expression)
        expressions[:, :count] = raw[:, :count]
    if up_axis == "z":
        poses, trans = _z_up_to_y_up(body, shape, poses, trans)
    else:
        trans = trans - np.array([0.0, body.ground_lift(shape), 0.0])
    return PoseSequence(
        body=spec.name,
        fps=fps,
        poses=poses.astype(np.float32),
        translations=trans.astype(np.float32),
        shapes=np.tile(shape, (n, 1)),
        expressions=expressions,
    )


def _z_up_to_y_up(body: BodyModel, shape: np.ndarray, poses: np.ndarray, trans: np.ndarray):
    """Rotate a Z-up SMPL-X motion into our frame, keeping the floor where the data has it.

    SMPL-X turns the body about its rest pelvis j0: x -> R (x - j0) + j0 + t. Rotating the
    world by C gives root C R and translation C (j0 + t) - j0; our model adds its ground lift
    itself, which the returned translation removes.
    """
    zero = body.default_params().replace(shape=shape)
    pelvis = body.joints(zero)[0].astype(np.float64)  # j0 + lift
    lift = np.array([0.0, body.ground_lift(shape), 0.0])
    rest_pelvis = pelvis - lift
    root = Z_UP_TO_Y_UP @ sk.axis_angle_to_matrix(poses[:, 0])
    poses = poses.copy()
    poses[:, 0] = sk.matrix_to_axis_angle(root)
    trans = (rest_pelvis + trans) @ Z_UP_TO_Y_UP.T - rest_pelvis - lift
    return poses, trans


# ---------------------------------------------------------------------------------------- saving


def save_sequence(path: str | Path, sequence: PoseSequence, spec: BodySpec) -> None:
    """Write ``sequence`` in the JSON format (only moving joints; shape / expression once if constant).

    Raises:
        InputError: the sequence does not fit ``spec`` or the path is not writable.
    """
    path = Path(path)
    if sequence.body != spec.name or sequence.poses.shape[1:] != (spec.num_joints, 3):
        raise InputError(
            f"sequence for {sequence.body!r} with poses {sequence.poses.shape} does not fit the "
            f"{spec.name} body ({spec.num_joints} joints)"
        )
    doc: dict = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "body_model": spec.name, "fps": sequence.fps}
    per_frame: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
    for key, values, names in (
        ("shape", sequence.shapes, spec.shape_names),
        ("expression", sequence.expressions, spec.expression_names),
    ):
        if values is None:
            continue
        if np.all(values == values[0]):
            doc[key] = {n: float(v) for n, v in zip(names, values[0], strict=True)}
        else:
            per_frame[key] = (values, names)
    frames = []
    degrees = np.rad2deg(sequence.poses.astype(np.float64))
    for k in range(len(sequence)):
        moving = np.flatnonzero(np.abs(degrees[k]).max(1) > 1e-6)
        frame: dict = {"pose": {spec.joint_names[j]: [round(float(v), 6) for v in degrees[k, j]] for j in moving}}
        if sequence.translations is not None:
            frame["translation"] = [round(float(v), 7) for v in sequence.translations[k]]
        for key, (values, names) in per_frame.items():
            frame[key] = {n: float(v) for n, v in zip(names, values[k], strict=True)}
        frames.append(frame)
    doc["frames"] = frames
    try:
        path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write sequence file {path}: {exc}") from None


# ---------------------------------------------------------------------------------------- demo


def demo_motion(body: BodyModel, num_frames: int = 120, fps: float = 30.0) -> PoseSequence:
    """A smooth, seamlessly looping demo: walking in place with arm swing and one slow full turn.

    Two steps per loop (knees lifted alternately, opposite arm swinging forwards), a slight
    bounce, and for bodies with named facial actions a gentle smile and one blink. Shape is left
    to the caller (``shapes`` is None).

    Args:
        body: the body model (any, by joint name; see :mod:`smplpix_rt.body.poses`).
        num_frames: frames in the loop (>= 2); frame ``num_frames`` would equal frame 0.
        fps: frames per second.
    """
    from smplpix_rt.body.poses import TPoseRig
    from smplpix_rt.body.poses import world_rotation as rot

    if num_frames < 2 or not (math.isfinite(fps) and fps > 0):
        raise InputError(f"demo motion needs >= 2 frames and a positive fps, got {num_frames}, {fps}")
    spec = body.spec
    rig = TPoseRig.of(body)
    cycles = max(1, round(num_frames / fps / 1.2))  # a step pair lasts about 1.2 s
    poses = np.zeros((num_frames, spec.num_joints, 3), np.float32)
    translations = np.zeros((num_frames, 3), np.float32)
    for k in range(num_frames):
        u = k / num_frames
        phase = 2 * np.pi * cycles * u
        sin = np.sin(phase)
        lift_l, lift_r = max(0.0, sin) ** 2, max(0.0, -sin) ** 2
        rotations = {
            "left_hip": rot(("x", -45 * lift_l)),
            "left_knee": rot(("x", 70 * lift_l)),
            "right_hip": rot(("x", -45 * lift_r)),
            "right_knee": rot(("x", 70 * lift_r)),
            "left_shoulder": rot(("z", -72), ("x", 22 * sin)),  # swings back while the left knee rises
            "right_shoulder": rot(("z", 72), ("x", -22 * sin)),
            "left_elbow": rot(("y", -20 - 10 * max(0.0, -sin))),
            "right_elbow": rot(("y", 20 + 10 * max(0.0, sin))),
            "spine2": rot(("y", 4 * sin)),
            "head": rot(("y", -3 * sin)),
        }
        poses[k] = rig.pose(rotations, root=rot(("y", 360.0 * u)))  # one full turn per loop
        translations[k, 1] = 0.015 * (1 - np.cos(2 * phase)) / 2
    return PoseSequence(spec.name, float(fps), poses, translations, None, _demo_expressions(body, num_frames))


def _demo_expressions(body: BodyModel, num_frames: int) -> np.ndarray | None:
    from smplpix_rt.body.poses import expression_presets

    presets = expression_presets(body)
    if "smile" not in presets:
        return None
    u = np.arange(num_frames) / num_frames
    smile = 0.25 + 0.25 * np.sin(2 * np.pi * u) ** 2
    blink = np.exp(-(((u - 0.6) * num_frames / 3.0) ** 2))  # one blink, about 0.2 s long at 30 fps
    return (smile[:, None] * presets["smile"] + blink[:, None] * presets["blink"]).clip(0, 1).astype(np.float32)
