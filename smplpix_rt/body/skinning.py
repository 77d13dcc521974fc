"""Pure functions shared by the body models: rotations, forward kinematics, skinning, normals.

Stateless and unbatched (one body at a time). Per-joint work (a hundred 4x4 matrices) runs in
NumPy, whose per-call overhead is a few times lower than PyTorch's on such tiny arrays; per-vertex
work runs in PyTorch (``embedding_bag`` for sparse weight blending, fused multiply-adds on planar
(3, V) arrays), which was about twice as fast as the best NumPy formulation we tried. The body
models run it single-threaded by default (see :func:`torch_threads`).

Conventions: a rigid transform is a (..., 4, 4) matrix mapping ``x -> R x + t``; joint trees are
given by a parent index per joint with the root (parent -1) at index 0 and every parent listed
before its children; "planar" arrays hold one coordinate per row, (3, V).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` PyTorch intra-op threads (None: leave the setting alone).

    The setting is per calling thread with PyTorch's OpenMP backend, and is restored on exit.
    Body updates are small (~15k vertices); spreading them over threads gains little and, on a
    busy 2-core machine, OpenMP workers waiting for a core stalled updates from ~1 ms to ~100 ms.
    """
    old = torch.get_num_threads()
    if count is None or count == old:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula, exact at zero.

    Args:
        rotvec: (..., 3) axis-angle vectors in radians.

    Returns:
        (..., 3, 3) rotation matrices of the same float dtype.
    """
    r = np.asarray(rotvec)
    angle_sq = (r * r).sum(-1)
    small = angle_sq < 1e-8
    safe = np.where(small, 1.0, np.sqrt(angle_sq))
    # sin(a)/a and (1 - cos(a))/a^2, with their Taylor expansions near zero.
    s = np.where(small, 1.0 - angle_sq / 6.0, np.sin(safe) / safe).astype(r.dtype)
    c = np.where(small, 0.5 - angle_sq / 24.0, (1.0 - np.cos(safe)) / (safe * safe)).astype(r.dtype)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    out = np.empty(r.shape[:-1] + (3, 3), r.dtype)
    out[..., 0, 0] = 1 - c * (y * y + z * z)
    out[..., 1, 1] = 1 - c * (x * x + z * z)
    out[..., 2, 2] = 1 - c * (x * x + y * y)
    out[..., 0, 1] = c * x * y - s * z
    out[..., 1, 0] = c * x * y + s * z
    out[..., 0, 2] = c * x * z + s * y
    out[..., 2, 0] = c * x * z - s * y
    out[..., 1, 2] = c * y * z - s * x
    out[..., 2, 1] = c * y * z + s * x
    return out


def matrix_to_axis_angle(matrices: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (angle in [0, pi]) of (..., 3, 3) rotation matrices, via quaternions.

    Returns:
        (..., 3) float64 rotation vectors.
    """
    m = np.asarray(matrices, np.float64)
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    diag = np.stack([m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1)
    # Shepperd's method: pick the largest of w, x, y, z to divide by.
    candidates = np.stack([trace, diag[..., 0], diag[..., 1], diag[..., 2]], -1)
    case = candidates.argmax(-1)
    quat = np.empty(m.shape[:-2] + (4,))
    skew = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    sym = np.stack([m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]], -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(np.maximum(1.0 + trace, 1e-300)) * 2  # case 0: w largest
        q0 = np.stack([s / 4, skew[..., 0] / s, skew[..., 1] / s, skew[..., 2] / s], -1)
        sx = np.sqrt(np.maximum(1.0 + 2 * diag[..., 0] - trace, 1e-300)) * 2
        q1 = np.stack([skew[..., 0] / sx, sx / 4, sym[..., 0] / sx, sym[..., 1] / sx], -1)
        sy = np.sqrt(np.maximum(1.0 + 2 * diag[..., 1] - trace, 1e-300)) * 2
        q2 = np.stack([skew[..., 1] / sy, sym[..., 0] / sy, sy / 4, sym[..., 2] / sy], -1)
        sz = np.sqrt(np.maximum(1.0 + 2 * diag[..., 2] - trace, 1e-300)) * 2
        q3 = np.stack([skew[..., 2] / sz, sym[..., 1] / sz, sym[..., 2] / sz, sz / 4], -1)
    for k, q in enumerate((q0, q1, q2, q3)):
        quat = np.where((case == k)[..., None], q, quat)
    quat = np.where(quat[..., :1] < 0, -quat, quat)  # w >= 0: angle in [0, pi]
    vec = quat[..., 1:]
    sin_half = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(sin_half, quat[..., :1])
    scale = np.where(sin_half < 1e-12, 2.0, angle / np.maximum(sin_half, 1e-300))
    return vec * scale


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest (3, 3) rotation taking direction ``a`` to direction ``b``."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a)
    b = np.asarray(b, np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        ortho = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return axis_angle_to_matrix(ortho / np.linalg.norm(ortho) * np.pi)
    return axis_angle_to_matrix(axis / sin * np.arctan2(sin, cos))


def nearest_rotation(matrices: np.ndarray) -> np.ndarray:
    """Special orthogonal Procrustes: the rotation closest (Frobenius) to each matrix.

    Args:
        matrices: (..., 3, 3) matrices.

    Returns:
        (..., 3, 3) rotations ``U diag(1, 1, det(U V^T)) V^T`` from the SVD ``M = U S V^T``.
    """
    u, _, vh = np.linalg.svd(matrices)
    sign = np.sign(np.linalg.det(u @ vh))
    u = u.copy()
    u[..., :, 2] *= np.where(sign == 0, 1.0, sign)[..., None]
    return u @ vh


@dataclass(frozen=True, eq=False)
class KinematicTree:
    """A joint hierarchy prepared for forward kinematics by pointer jumping.

    Composing every joint with its ancestor 2^k levels up takes ceil(log2(depth + 1)) batched
    steps instead of one step per joint or per tree level.

    Attributes:
        parents: (J,) int64 parent index per joint, -1 for the root.
        num_steps: pointer-jumping steps needed to reach the root from the deepest joint.
    """

    parents: np.ndarray
    num_steps: int

    @staticmethod
    def from_parents(parents) -> KinematicTree:
        """Validate a parent list (root first, parents before children) and build the tree.

        Raises:
            ValueError: the list is not a tree rooted at index 0 in parent-first order.
        """
        p = np.asarray(parents, np.int64).reshape(-1)
        if p.size == 0 or p[0] != -1 or (p[1:] < 0).any() or (p[1:] >= np.arange(1, p.size)).any():
            raise ValueError("joint parents must start with the root (-1) and list every parent before its children")
        depth = np.zeros(p.size, np.int64)
        for j in range(1, p.size):
            depth[j] = depth[p[j]] + 1
        steps = int(math.ceil(math.log2(depth.max() + 1))) if depth.max() > 0 else 0
        return KinematicTree(parents=p, num_steps=steps)

    @property
    def num_joints(self) -> int:
        return int(self.parents.size)

    def chain(self, local: np.ndarray) -> np.ndarray:
        """World transforms ``X_c = X_parent(c) @ L_c`` of every joint, ``X_root = L_root``.

        Args:
            local: (J, 4, 4) transform of each joint in its parent's frame.

        Returns:
            (J, 4, 4) world transforms.
        """
        num = self.num_joints
        # A sentinel identity at index J stands for "above the root".
        x = np.concatenate([local, np.eye(4, dtype=local.dtype)[None]], 0)
        anc = np.append(np.where(self.parents < 0, num, self.parents), num)
        for _ in range(self.num_steps):
            x = x[anc] @ x
            anc = anc[anc]
        return x[:num]


def rigid(rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """(J, 4, 4) homogeneous transforms from (J, 3, 3) rotations and (J, 3) translations."""
    out = np.zeros(rotations.shape[:-2] + (4, 4), rotations.dtype)
    out[..., :3, :3] = rotations
    out[..., :3, 3] = translations
    out[..., 3, 3] = 1.0
    return out


def skinning_transforms(world: np.ndarray, rest_rotations: np.ndarray | None, rest_heads: np.ndarray) -> np.ndarray:
    """Per-joint transforms mapping rest-pose points to posed points, as (J, 12) rows.

    A joint whose posed frame is ``[G | w]`` and whose rest frame is ``[R0 | h]`` moves rest
    points by ``x -> G R0^T (x - h) + w``.

    Args:
        world: (J, 4, 4) posed joint frames.
        rest_rotations: (J, 3, 3) rest frame orientations, or None for identity (SMPL-style rigs).
        rest_heads: (J, 3) rest joint positions.

    Returns:
        (J, 12) float32 rows ``[r00 r01 r02 t0 r10 ... t2]`` (the top 3x4 block, row-major).
    """
    rot = world[:, :3, :3] if rest_rotations is None else world[:, :3, :3] @ np.swapaxes(rest_rotations, -1, -2)
    trans = world[:, :3, 3] - (rot @ rest_heads[:, :, None])[:, :, 0]
    return np.concatenate([rot, trans[:, :, None]], -1).reshape(-1, 12).astype(np.float32)


@dataclass(frozen=True, eq=False)
class SparseWeights:
    """Skinning (or any row-sparse) weights in ``embedding_bag`` layout.

    Attributes:
        indices: (N,) int64 column (joint) of each non-zero, grouped by row.
        weights: (N,) float32 value of each non-zero.
        offsets: (V,) int64 start of each row in ``indices``.
        num_columns: number of columns (joints).
    """

    indices: torch.Tensor
    weights: torch.Tensor
    offsets: torch.Tensor
    num_columns: int

    @staticmethod
    def from_dense(dense: np.ndarray) -> SparseWeights:
        """From a (V, J) matrix; exact zeros are dropped. Every row needs one non-zero or none."""
        rows, cols = np.nonzero(dense)
        counts = np.bincount(rows, minlength=dense.shape[0])
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return SparseWeights(
            indices=torch.from_numpy(cols.astype(np.int64)),
            weights=torch.from_numpy(dense[rows, cols].astype(np.float32)),
            offsets=torch.from_numpy(offsets.astype(np.int64)),
            num_columns=int(dense.shape[1]),
        )

    @staticmethod
    def from_padded(weights: np.ndarray, indices: np.ndarray, num_columns: int) -> SparseWeights:
        """From (V, K) weights and (V, K) column indices (repeated columns are summed)."""
        return SparseWeights.from_dense(dense_weights(weights, indices, num_columns))

    @property
    def num_rows(self) -> int:
        return int(self.offsets.shape[0])

    def matmul(self, table: torch.Tensor) -> torch.Tensor:
        """``W @ table`` for a (J, D) table: (V, D)."""
        return F.embedding_bag(self.indices, table, self.offsets, mode="sum", per_sample_weights=self.weights)


def dense_weights(weights: np.ndarray, indices: np.ndarray, num_columns: int) -> np.ndarray:
    """(V, J) float32 dense matrix from (V, K) sparse weights and column indices."""
    dense = np.zeros((weights.shape[0], num_columns), np.float32)
    rows = np.repeat(np.arange(weights.shape[0]), weights.shape[1])
    np.add.at(dense, (rows, indices.reshape(-1).astype(np.int64)), weights.reshape(-1).astype(np.float32))
    return dense


def blend_transforms(weights: SparseWeights, transforms: np.ndarray) -> torch.Tensor:
    """Linear blend of joint transforms per vertex.

    Args:
        weights: (V, J) skinning weights.
        transforms: (J, 12) joint transforms from :func:`skinning_transforms`.

    Returns:
        (12, V) planar blended transforms (row k holds entry k of every vertex's 3x4 block).
    """
    return weights.matmul(torch.from_numpy(transforms)).t().contiguous()


def apply_affine(blended: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``M p + t`` for (12, V) planar blended transforms and (3, V) planar points: (3, V)."""
    out = torch.addcmul(blended[3::4], blended[0::4], points[0])
    out.addcmul_(blended[1::4], points[1])
    return out.addcmul_(blended[2::4], points[2])


def apply_linear(blended: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``M v`` (3x3 part only) for (12, V) planar transforms and (3, V) planar vectors: (3, V)."""
    out = blended[0::4] * vectors[0]
    out.addcmul_(blended[1::4], vectors[1])
    return out.addcmul_(blended[2::4], vectors[2])


def normalize_planar(vectors: torch.Tensor, eps: float = 1e-20) -> torch.Tensor:
    """Unit columns of a (3, V) planar array (zero columns stay zero)."""
    norm_sq = vectors[0] * vectors[0]
    norm_sq.addcmul_(vectors[1], vectors[1]).addcmul_(vectors[2], vectors[2])
    return vectors * norm_sq.clamp_min_(eps).rsqrt_()


def is_closed_surface(faces: np.ndarray) -> bool:
    """Whether triangles bound closed, consistently oriented surfaces.

    True when every edge is used by exactly two triangles that run along it in opposite
    directions (so each directed edge occurs once and its reverse occurs too). Index the faces by
    the model's own vertices: a render mesh whose seams were split into duplicate vertices has
    open edges along the seams even when the surface is closed.

    Args:
        faces: (F, 3) integer vertex indices, one consistent winding.
    """
    f = np.asarray(faces, np.int64)
    if f.ndim != 2 or f.shape[1] != 3 or f.size == 0:
        return False
    if ((f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])).any():
        return False
    num = int(f.max()) + 1
    tails = f.reshape(-1)
    heads = f[:, [1, 2, 0]].reshape(-1)
    directed = tails * num + heads
    if np.unique(directed).size != directed.size:  # an edge run twice the same way: flipped or non-manifold
        return False
    return bool(np.isin(heads * num + tails, directed).all())


@dataclass(frozen=True, eq=False)
class VertexNormals:
    """Area-weighted vertex normals of a fixed triangle list (face incidence precomputed).

    Attributes:
        corners: three (F,) int64 tensors, the first, second and third vertex of each triangle
            (counter-clockwise seen from outside).
        incidence: :class:`SparseWeights` (V rows, F columns) summing face normals per vertex.
    """

    corners: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    incidence: SparseWeights

    @staticmethod
    def from_faces(faces: np.ndarray, num_vertices: int) -> VertexNormals:
        f = np.asarray(faces, np.int64)
        corner_vertex = f.reshape(-1)
        corner_face = np.repeat(np.arange(f.shape[0]), 3)
        order = np.argsort(corner_vertex, kind="stable")
        counts = np.bincount(corner_vertex, minlength=num_vertices)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        incidence = SparseWeights(
            indices=torch.from_numpy(corner_face[order]),
            weights=torch.ones(order.size),
            offsets=torch.from_numpy(offsets.astype(np.int64)),
            num_columns=int(f.shape[0]),
        )
        corners = tuple(torch.from_numpy(np.ascontiguousarray(f[:, k])) for k in range(3))
        return VertexNormals(corners=corners, incidence=incidence)

    def __call__(self, vertices: torch.Tensor) -> torch.Tensor:
        """(V, 3) unit normals of (V, 3) vertices (zero for vertices used by no face)."""
        v0, v1, v2 = (vertices.index_select(0, c) for c in self.corners)
        summed = self.incidence.matmul(torch.linalg.cross(v1 - v0, v2 - v0))
        return summed * (summed * summed).sum(1, keepdim=True).clamp_min_(1e-20).rsqrt_()


def faces_around(faces: np.ndarray, num_vertices: int, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a move of some vertices changes in the vertex normals.

    Args:
        faces: (F, 3) integer triangles.
        num_vertices: V.
        moving: indices of the vertices that move.

    Returns:
        ``(affected, needed)``: (A,) int64 sorted vertices of every triangle touching a moving
        vertex (the only normals that can change), and (N, 3) int64 every triangle touching an
        affected vertex (what their normals are summed over).
    """
    f = np.asarray(faces, np.int64)
    is_moving = np.zeros(num_vertices, bool)
    is_moving[np.asarray(moving, np.int64)] = True
    affected = np.unique(f[is_moving[f].any(1)])
    is_affected = np.zeros(num_vertices, bool)
    is_affected[affected] = True
    return affected, f[is_affected[f].any(1)]


@dataclass(frozen=True, eq=False)
class LocalNormals:
    """Vertex normals recomputed only where some vertices move (e.g. the face for an expression).

    ``affected`` are the vertices of every triangle touching a moving vertex: the only normals
    that can change. Their normals are summed over all their incident triangles (``local``, over
    the vertex subset ``support``), so the result equals a full :class:`VertexNormals` pass.

    Attributes:
        affected: (A,) int64 vertex indices whose normals are recomputed.
        support: (S,) int64 vertices of the triangles incident to ``affected``.
        local: normals of the triangles incident to ``affected``, indexed within ``support``.
        affected_in_support: (A,) int64 position of each affected vertex in ``support``.
    """

    affected: torch.Tensor
    support: torch.Tensor
    local: VertexNormals
    affected_in_support: torch.Tensor

    @staticmethod
    def around(faces: np.ndarray, num_vertices: int, moving: np.ndarray) -> LocalNormals:
        affected, needed = faces_around(faces, num_vertices, moving)
        support = np.unique(needed)
        position = np.full(num_vertices, -1, np.int64)
        position[support] = np.arange(support.size)
        return LocalNormals(
            affected=torch.from_numpy(affected),
            support=torch.from_numpy(support),
            local=VertexNormals.from_faces(position[needed], support.size),
            affected_in_support=torch.from_numpy(position[affected]),
        )

    def update(self, normals: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        """(V, 3) normals of ``vertices``: ``normals`` (those before the move) with the affected rows redone."""
        local = self.local(vertices.index_select(0, self.support))
        out = normals.clone()
        out[self.affected] = local.index_select(0, self.affected_in_support)
        return out
