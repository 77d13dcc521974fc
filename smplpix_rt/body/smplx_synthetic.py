"""A synthetic SMPL-X model file, for tests and benchmarks without the licensed SMPL-X data.

The file has the key layout of ``SMPLX_NEUTRAL.npz`` (10 shape + 10 expression directions) with a
plausible but fake body: a closed ellipsoid "trunk" plus a small sphere "head" (SMPL-X also has
several closed parts), 10475 vertices in total, joints placed on a stick figure with SMPL-X's
kinematic tree, the joint regressor averaging the vertices nearest to each joint (rows sum to 1),
smooth skinning weights over the nearest joints (rows sum to 1), smooth shape and expression
directions and small pose correctives on part of the mesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_VERTICES = 10475
# SMPL-X's parents (joints 0..54: body, jaw, eyes, left hand, right hand).
SMPLX_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15]
SMPLX_PARENTS += [20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38]
SMPLX_PARENTS += [21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]

# Stick-figure joint positions (metres, Y up, facing +Z, left = +X), left side; right is mirrored.
_BODY = {
    0: (0.0, 0.0, 0.0),
    1: (0.09, -0.08, 0.0),
    3: (0.0, 0.1, -0.02),
    4: (0.1, -0.48, 0.01),
    6: (0.0, 0.23, -0.01),
    7: (0.1, -0.88, -0.03),
    9: (0.0, 0.3, 0.0),
    10: (0.1, -0.94, 0.1),
    12: (0.0, 0.5, -0.02),
    13: (0.07, 0.42, 0.0),
    15: (0.0, 0.6, 0.02),
    16: (0.17, 0.42, -0.01),
    18: (0.42, 0.42, -0.02),
    20: (0.66, 0.42, -0.01),
    22: (0.0, 0.55, 0.06),
    23: (0.03, 0.64, 0.08),
}
_RIGHT_OF = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 23: 24}


def _joint_positions() -> np.ndarray:
    joints = np.zeros((55, 3))
    for j, p in _BODY.items():
        joints[j] = p
    for left, right in _RIGHT_OF.items():
        joints[right] = joints[left] * (-1.0, 1.0, 1.0)
    for side, first in ((1.0, 25), (-1.0, 40)):
        for finger in range(5):  # index, middle, pinky, ring, thumb: three joints each
            z = (0.02, 0.0, -0.04, -0.02, 0.04)[finger]
            for k in range(3):
                joints[first + 3 * finger + k] = (side * (0.74 + 0.03 * k), 0.42, z)
    return joints


def _sphere(rings: int, segments: int, centre, radii) -> tuple[np.ndarray, np.ndarray]:
    """Closed UV sphere: two poles + rings x segments vertices, counter-clockwise from outside."""
    theta = np.linspace(0, np.pi, rings + 2)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3)
    unit = np.concatenate([[[0, 1, 0]], unit, [[0, -1, 0]]])
    faces = []
    ring = lambda r, s: 1 + r * segments + s % segments  # noqa: E731
    for s in range(segments):
        faces.append((0, ring(0, s), ring(0, s + 1)))
        last, bottom = rings - 1, 1 + rings * segments
        faces.append((bottom, ring(last, s + 1), ring(last, s)))
        for r in range(rings - 1):
            faces.append((ring(r, s), ring(r + 1, s), ring(r + 1, s + 1)))
            faces.append((ring(r, s), ring(r + 1, s + 1), ring(r, s + 1)))
    return unit * radii + centre, np.asarray(faces, np.int64)


def _mesh() -> tuple[np.ndarray, np.ndarray]:
    trunk_v, trunk_f = _sphere(81, 119, (0.0, -0.2, 0.0), (0.75, 0.8, 0.14))  # 9641 vertices
    head_v, head_f = _sphere(26, 32, (0.0, 0.68, 0.02), (0.1, 0.12, 0.11))  # the other 834
    vertices = np.concatenate([trunk_v, head_v])
    faces = np.concatenate([trunk_f, head_f + len(trunk_v)])
    return vertices, faces


def synthetic_smplx_arrays(seed: int = 0, pose_correctives: bool = True) -> dict[str, np.ndarray]:
    """The arrays of a synthetic ``SMPLX_NEUTRAL.npz`` (float32, 10 + 10 shape/expression directions)."""
    rng = np.random.default_rng(seed)
    vertices, faces = _mesh()
    joints = _joint_positions()
    dist = np.linalg.norm(vertices[:, None, :] - joints[None], axis=-1)  # (V, 55)

    regressor = np.zeros((55, NUM_VERTICES))
    for j in range(55):
        nearest = np.argsort(dist[:, j])[:8]
        regressor[j, nearest] = 1.0 / 8
    weights = np.zeros((NUM_VERTICES, 55))
    nearest = np.argsort(dist, axis=1)[:, :4]
    logits = -np.take_along_axis(dist, nearest, 1) / 0.05
    soft = np.exp(logits - logits.max(1, keepdims=True))
    np.put_along_axis(weights, nearest, soft / soft.sum(1, keepdims=True), 1)

    # Smooth shape / expression directions: low-frequency functions of the template position.
    freq = rng.normal(size=(20, 3, 3)) * 2.0
    phase = rng.uniform(0, 2 * np.pi, size=(20, 3))
    shapedirs = 0.01 * np.sin(np.einsum("kcd,vd->vck", freq, vertices) + phase.T[None])
    face_region = (vertices[:, 1] > 0.55).astype(float)[:, None, None]
    shapedirs[:, :, 10:] *= face_region  # expressions move the head only
    posedirs = np.zeros((NUM_VERTICES, 3, 486))
    if pose_correctives:
        moved = rng.choice(NUM_VERTICES, 300, replace=False)
        posedirs[moved] = rng.normal(size=(300, 3, 486)) * 2e-3
    kintree = np.stack([np.asarray(SMPLX_PARENTS), np.arange(55)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # the real files store the root's parent as uint32(-1)

    f32 = np.float32
    return {
        "v_template": vertices.astype(f32),
        "f": faces.astype(np.int32),
        "shapedirs": shapedirs.astype(f32),
        "posedirs": posedirs.astype(f32),
        "J_regressor": regressor.astype(f32),
        "kintree_table": kintree,
        "weights": weights.astype(f32),
        "hands_componentsl": np.linalg.qr(rng.normal(size=(45, 45)))[0].astype(f32),
        "hands_componentsr": np.linalg.qr(rng.normal(size=(45, 45)))[0].astype(f32),
        "hands_meanl": (rng.normal(size=45) * 0.1).astype(f32),
        "hands_meanr": (rng.normal(size=45) * 0.1).astype(f32),
        "lmk_faces_idx": rng.integers(0, len(faces), 51).astype(np.int64),
        "lmk_bary_coords": np.full((51, 3), 1.0 / 3.0, f32),
        "dynamic_lmk_faces_idx": rng.integers(0, len(faces), (79, 17)).astype(np.int64),
        "dynamic_lmk_bary_coords": np.full((79, 17, 3), 1.0 / 3.0, f32),
    }


def write_synthetic_smplx(folder: Path, gender: str = "neutral", seed: int = 0, pose_correctives: bool = True) -> Path:
    """Write ``folder/SMPLX_<GENDER>.npz`` (compressed, ~3 MB) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"SMPLX_{gender.upper()}.npz"
    np.savez_compressed(path, **synthetic_smplx_arrays(seed, pose_correctives))
    return path
