"""Named poses and expressions, mirroring and random poses, for any body model by joint name.

Presets are written once, on SMPL-X's joint names, as rotations of a **T-pose** body (arms
straight out along +-X, palms down): each entry is a local rotation about world-aligned axes at
the joint (x: the body's left, y: up, z: forwards), like both models' pose rows. For Anny the
names are mapped (``left_elbow`` -> ``lowerarm01.L``, ...). A body whose zero pose is not a T-pose
(Anny's is an A-pose: upper arms ~48 degrees down, elbows slightly bent) first gets the arm
rotations that straighten its arms along +-X, computed from its zero-pose skeleton; the preset's
rotations are then applied on top in the T-pose's frames, so "t-pose" is a true T-pose and
"a-pose" a true 45-degree A-pose on every body.

Left-side entries are mirrored to the right for symmetric presets; see :func:`mirror_pose` for
the convention (swap left/right joints, keep the x component, negate y and z).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from smplpix_rt.body import skinning as sk
from smplpix_rt.body.base import BodyModel
from smplpix_rt.body.pose_limits import mirror_name
from smplpix_rt.camera import OrbitCamera
from smplpix_rt.contracts import BodyParams, BodySpec
from smplpix_rt.errors import InputError

# SMPL-X joint name -> Anny bone (only the joints presets use).
ANNY_JOINTS = {
    "pelvis": "root",
    "left_hip": "upperleg01.L",
    "left_knee": "lowerleg01.L",
    "left_ankle": "foot.L",
    "spine1": "spine04",
    "spine2": "spine02",
    "spine3": "spine01",
    "neck": "neck01",
    "head": "head",
    "left_collar": "clavicle.L",
    "left_shoulder": "upperarm01.L",
    "left_elbow": "lowerarm01.L",
    "left_wrist": "wrist.L",
    "left_middle1": "finger3-1.L",
    "left_eye_smplhf": "eye.L",
}
ANNY_JOINTS.update({mirror_name(k): mirror_name(v) for k, v in list(ANNY_JOINTS.items()) if mirror_name(k)})

# (joint, child towards which the segment points) straightened along +-X for the T-pose.
_ARM_SEGMENTS = (("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "middle1"))


def world_rotation(*steps: tuple[str, float]) -> np.ndarray:
    """(3, 3) rotation made of successive rotations about world axes, ``("x", degrees)``, first applied first."""
    m = np.eye(3)
    for axis, degrees in steps:
        v = np.zeros(3)
        v["xyz".index(axis)] = np.deg2rad(degrees)
        m = sk.axis_angle_to_matrix(v) @ m
    return m


def _mirror_matrix(m: np.ndarray) -> np.ndarray:
    flip = np.diag([-1.0, 1.0, 1.0])
    return flip @ m @ flip


def _symmetric(left: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = dict(left)
    for name, m in left.items():
        other = mirror_name(name)
        if other:
            out[other] = _mirror_matrix(m)
    return out


def _preset_rotations() -> dict[str, dict[str, np.ndarray]]:
    """Each preset: generic joint -> local rotation in the T-pose's frames (right side included)."""
    arm_down = {"left_shoulder": world_rotation(("z", -75)), "left_elbow": world_rotation(("y", -10))}
    return {
        "t-pose": {},
        "a-pose": _symmetric({"left_shoulder": world_rotation(("z", -45))}),
        "walk": {
            **_symmetric(arm_down),
            "left_hip": world_rotation(("x", -25)),
            "left_knee": world_rotation(("x", 8)),
            "right_hip": world_rotation(("x", 15)),
            "right_knee": world_rotation(("x", 35)),
            "right_ankle": world_rotation(("x", 10)),
            "left_shoulder": world_rotation(("z", -72), ("x", 22)),  # swings back, opposite to the left leg
            "right_shoulder": world_rotation(("z", 72), ("x", -25)),  # swings forwards
            "left_elbow": world_rotation(("y", -12)),
            "right_elbow": world_rotation(("y", 28)),
            "spine2": world_rotation(("y", -4)),
        },
        "sit": _symmetric(
            {
                "left_hip": world_rotation(("x", -90), ("z", 6)),
                "left_knee": world_rotation(("x", 90)),
                "left_shoulder": world_rotation(("z", -72), ("x", -18)),
                "left_elbow": world_rotation(("y", -55)),
                "spine1": world_rotation(("x", 5)),
            }
        ),
        "wave": {
            "left_shoulder": world_rotation(("z", -75)),
            "left_elbow": world_rotation(("y", -10)),
            # Right upper arm turned about its axis so the elbow bends upwards, then raised 20 degrees.
            "right_shoulder": world_rotation(("x", -90), ("z", -20)),
            "right_elbow": world_rotation(("y", 100)),
            "right_wrist": world_rotation(("z", -15)),
            "head": world_rotation(("y", -10)),
        },
        "arms-crossed": _symmetric(
            {
                # Upper arm turned inwards about its axis, lowered, brought slightly forwards; the
                # bent elbow then brings the forearm across the chest.
                "left_shoulder": world_rotation(("x", 65), ("z", -70), ("x", -15)),
                "left_elbow": world_rotation(("y", -115)),
            }
        ),
    }


def joint_indices(spec: BodySpec) -> dict[str, int]:
    """Generic (SMPL-X) joint name -> index in ``spec``, for the joints this body has.

    Anny's bones are found through :data:`ANNY_JOINTS`; every body's own joint names map to
    themselves as well.
    """
    names = {n: i for i, n in enumerate(spec.joint_names)}
    mapping = ANNY_JOINTS if spec.name == "anny" else {}
    out = {}
    for generic in set(ANNY_JOINTS) | set(spec.joint_names):
        name = mapping.get(generic, generic)
        if name in names:
            out[generic] = names[name]
    return out


@dataclass(frozen=True, eq=False)
class TPoseRig:
    """A body's skeleton prepared for poses written on a T-pose.

    Attributes:
        index: generic joint name -> joint index (see :func:`joint_indices`).
        parents: (J,) parent per joint, -1 for the root.
        world: (J, 3, 3) world rotation of each joint's segment from the zero pose to the T-pose.
        local: (J, 3, 3) the same as local pose rotations (the T-pose itself).
    """

    index: dict[str, int]
    parents: np.ndarray
    world: np.ndarray
    local: np.ndarray

    @staticmethod
    def of(body: BodyModel) -> TPoseRig:
        """Straighten the arms (shoulder, elbow, wrist segments) of the zero-pose skeleton along +-X."""
        spec = body.spec
        joints = np.asarray(body.joints(body.default_params()), np.float64)
        index = joint_indices(spec)
        targets = {}
        for side, direction in (("left", 1.0), ("right", -1.0)):
            for joint, child in _ARM_SEGMENTS:
                a, b = index.get(f"{side}_{joint}"), index.get(f"{side}_{child}")
                if a is not None and b is not None:
                    targets[a] = (b, np.array([direction, 0.0, 0.0]))
        parents = np.asarray(spec.joint_parents, np.int64)
        world = np.tile(np.eye(3), (spec.num_joints, 1, 1))
        local = world.copy()
        for j in range(spec.num_joints):  # parents come first
            parent = world[parents[j]] if parents[j] >= 0 else np.eye(3)
            world[j] = parent
            if j in targets:
                child, direction = targets[j]
                world[j] = sk.rotation_between(parent @ (joints[child] - joints[j]), direction) @ parent
                local[j] = parent.T @ world[j]
        return TPoseRig(index=index, parents=parents, world=world, local=local)

    def pose(self, rotations: dict[str, np.ndarray], root: np.ndarray | None = None) -> np.ndarray:
        """(J, 3) float32 axis-angle pose from T-pose rotations.

        Args:
            rotations: generic joint name -> (3, 3) local rotation in the T-pose's frames (joints
                the body lacks are skipped).
            root: optional (3, 3) world rotation of the whole body, applied last.
        """
        matrices = self.local.copy()
        for generic, q in rotations.items():
            j = self.index.get(generic)
            if j is None:
                continue
            # On top of the T-pose: D = G_p^T q G_p o, with G_p the parent's zero-to-T rotation.
            g = self.world[self.parents[j]] if self.parents[j] >= 0 else np.eye(3)
            matrices[j] = g.T @ q @ g @ self.local[j]
        if root is not None:
            matrices[0] = root @ matrices[0]
        return sk.matrix_to_axis_angle(matrices).astype(np.float32)


def pose_presets(body: BodyModel) -> dict[str, np.ndarray]:
    """All named poses for ``body``: name -> (J, 3) float32 axis-angle (radians).

    Names: ``zero`` (the model's own zero pose), ``t-pose``, ``a-pose``, ``walk``, ``sit``,
    ``wave``, ``arms-crossed``.
    """
    rig = TPoseRig.of(body)
    out = {"zero": np.zeros((body.spec.num_joints, 3), np.float32)}
    out.update({name: rig.pose(rotations) for name, rotations in _preset_rotations().items()})
    return out


def pose_preset(body: BodyModel, name: str) -> np.ndarray:
    """One named pose (see :func:`pose_presets`). Raises :class:`InputError` for unknown names."""
    presets = pose_presets(body)
    if name not in presets:
        raise InputError(f"unknown pose preset {name!r}; available: {', '.join(presets)}")
    return presets[name]


# ARKit-style facial action weights (Anny's 52 facial actions).
EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {
        "mouthSmileLeft": 0.8,
        "mouthSmileRight": 0.8,
        "cheekSquintLeft": 0.4,
        "cheekSquintRight": 0.4,
        "eyeSquintLeft": 0.2,
        "eyeSquintRight": 0.2,
    },
    "laugh": {
        "mouthSmileLeft": 1.0,
        "mouthSmileRight": 1.0,
        "jawOpen": 0.35,
        "cheekSquintLeft": 0.6,
        "cheekSquintRight": 0.6,
        "eyeSquintLeft": 0.5,
        "eyeSquintRight": 0.5,
    },
    "surprise": {
        "browInnerUp": 0.8,
        "browOuterUpLeft": 0.8,
        "browOuterUpRight": 0.8,
        "eyeWideLeft": 0.7,
        "eyeWideRight": 0.7,
        "jawOpen": 0.4,
        "mouthFunnel": 0.2,
    },
    "sad": {"browInnerUp": 0.6, "mouthFrownLeft": 0.7, "mouthFrownRight": 0.7, "mouthShrugLower": 0.3},
    "angry": {
        "browDownLeft": 0.8,
        "browDownRight": 0.8,
        "noseSneerLeft": 0.5,
        "noseSneerRight": 0.5,
        "mouthPressLeft": 0.5,
        "mouthPressRight": 0.5,
        "eyeSquintLeft": 0.3,
        "eyeSquintRight": 0.3,
    },
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "wink": {"eyeBlinkLeft": 1.0, "mouthSmileLeft": 0.3, "cheekSquintLeft": 0.3},
    "kiss": {"mouthPucker": 0.9, "mouthFunnel": 0.3},
    "open-mouth": {"jawOpen": 0.7},
    "tongue-out": {"jawOpen": 0.4, "tongueOut": 1.0},
}


def _spec_of(body_or_spec: BodyModel | BodySpec) -> BodySpec:
    return body_or_spec if isinstance(body_or_spec, BodySpec) else body_or_spec.spec


def expression_presets(body_or_spec: BodyModel | BodySpec) -> dict[str, np.ndarray]:
    """Named expressions the body supports: name -> (E,) float32 (empty for PCA expression spaces)."""
    spec = _spec_of(body_or_spec)
    names = {n: i for i, n in enumerate(spec.expression_names)}
    out = {}
    for preset, actions in EXPRESSIONS.items():
        if actions and not all(a in names for a in actions):
            continue
        values = np.zeros(spec.num_expression, np.float32)
        for action, weight in actions.items():
            values[names[action]] = weight
        out[preset] = values
    return out if len(out) > 1 else {}


def expression_preset(body_or_spec: BodyModel | BodySpec, name: str) -> np.ndarray:
    """One named expression. Raises :class:`InputError` if unknown or unsupported by the body."""
    presets = expression_presets(body_or_spec)
    if name not in presets:
        spec = _spec_of(body_or_spec)
        available = ", ".join(presets) or "none (its expressions are not named facial actions)"
        raise InputError(f"no expression preset {name!r} for the {spec.name} body; available: {available}")
    return presets[name]


def mirror_pose(body_or_spec: BodyModel | BodySpec, pose: np.ndarray) -> np.ndarray:
    """The left/right mirror image of a pose (reflection through the body's sagittal plane x = 0).

    Left and right joints swap rows; every rotation vector (x, y, z) becomes (x, -y, -z).

    Raises:
        InputError: wrong pose shape, or a sided joint without its opposite.
    """
    spec = _spec_of(body_or_spec)
    p = np.asarray(pose, np.float32)
    if p.shape != (spec.num_joints, 3):
        raise InputError(f"{spec.name} pose must have shape {(spec.num_joints, 3)}, got {p.shape}")
    names = {n: i for i, n in enumerate(spec.joint_names)}
    source = np.arange(spec.num_joints)
    for i, name in enumerate(spec.joint_names):
        other = mirror_name(name)
        if other is not None:
            if other not in names:
                raise InputError(f"cannot mirror the {spec.name} pose: joint {name!r} has no {other!r}")
            source[i] = names[other]
    return (p[source] * np.array([1.0, -1.0, -1.0], np.float32)).astype(np.float32)


def random_pose(
    body_or_spec: BodyModel | BodySpec, rng: np.random.Generator, scale: float = 0.5, include_root: bool = False
) -> np.ndarray:
    """A random pose drawn uniformly within ``scale`` times the suggested limits.

    Args:
        body_or_spec: the body (or its spec).
        rng: NumPy random generator.
        scale: fraction of each limit in [0, 1] (limits are [min, max] around zero).
        include_root: also rotate the root (otherwise row 0 stays zero).

    Returns:
        (J, 3) float32 axis-angle in radians.
    """
    if not 0.0 <= scale <= 1.0:
        raise InputError(f"random pose scale must lie in [0, 1], got {scale}")
    spec = _spec_of(body_or_spec)
    limits = np.deg2rad(spec.pose_limits_deg.astype(np.float64)) * scale
    pose = rng.uniform(limits[..., 0], limits[..., 1])
    if not include_root:
        pose[0] = 0.0
    return pose.astype(np.float32)


def random_shape(spec: BodySpec, neutral: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(S,) float32 shape drawn around ``neutral`` (sigma = a sixth of each range), clipped to the ranges."""
    ranges = spec.shape_ranges.astype(np.float64)
    sigma = (ranges[:, 1] - ranges[:, 0]) / 6.0
    values = np.asarray(neutral, np.float64) + rng.normal(0.0, 1.0, len(sigma)) * sigma
    return np.clip(values, ranges[:, 0], ranges[:, 1]).astype(np.float32)


#: Every how many scripted edits the shape, and the camera's yaw, change too (:func:`random_edit`).
RANDOM_EDIT_SHAPE_EVERY = 7
RANDOM_EDIT_CAMERA_EVERY = 11


def random_edit(
    spec: BodySpec, params: BodyParams, neutral_shape: np.ndarray, rng: np.random.Generator, index: int
) -> tuple[BodyParams, float | None]:
    """Scripted edit number ``index`` from ``params``: what the viewer's measurement runs and the
    bench's reference timings for them both render.

    Every edit draws a new pose (a third of the limits; the root keeps its rotation), every 7th a
    new shape, every 11th a new camera yaw in [-60, 60] degrees.

    Returns:
        The new parameters and the new yaw (degrees), or None to keep the camera.
    """
    pose = random_pose(spec, rng, scale=0.35)
    pose[0] = params.pose[0]
    changes = {"pose": pose}
    if index % RANDOM_EDIT_SHAPE_EVERY == 0:
        changes["shape"] = random_shape(spec, neutral_shape, rng)
    yaw = float(rng.uniform(-60, 60)) if index % RANDOM_EDIT_CAMERA_EVERY == 0 else None
    return params.replace(**changes), yaw


def random_edit_sequence(
    spec: BodySpec,
    params: BodyParams,
    neutral_shape: np.ndarray,
    orbit: OrbitCamera,
    rng: np.random.Generator,
    count: int,
) -> list[tuple[BodyParams, OrbitCamera]]:
    """``count`` scripted edits (:func:`random_edit`) that follow each other from ``params`` and ``orbit``."""
    states = []
    for index in range(count):
        params, yaw = random_edit(spec, params, neutral_shape, rng, index)
        orbit = orbit if yaw is None else replace(orbit, yaw_deg=yaw)
        states.append((params, orbit))
    return states
