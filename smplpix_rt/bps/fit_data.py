"""Synthetic scans of a body model: the training and test data of the scan-fitting regressor.

A sample is a random body (shape uniform over the model's shape ranges, the root turned to any
heading and tilted a little, the limbs either at the neutral pose or in a mild random pose) seen as a
scan: points drawn uniformly over its whole surface, or only over the triangles facing a random
camera (a single-view scan), plus Gaussian noise. Works with any :class:`BodyModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smplpix_rt.body.base import BodyModel
from smplpix_rt.contracts import BodyParams, Mesh


@dataclass(frozen=True)
class ScanSampling:
    """How synthetic bodies and scans are drawn.

    Attributes:
        n_points: points per scan.
        max_noise: the noise standard deviation of each scan is uniform in [0, max_noise] metres.
        partial_fraction: fraction of scans that see only the triangles facing one camera.
        max_tilt_deg: largest tilt of the body away from upright (the heading is uniform).
        pose_fraction: fraction of bodies whose limbs get a random pose (the rest keep the neutral pose).
        pose_scale: a random limb pose uses this fraction of each joint's suggested limits.
    """

    n_points: int = 2048
    max_noise: float = 0.005
    partial_fraction: float = 0.5
    max_tilt_deg: float = 10.0
    pose_fraction: float = 0.5
    pose_scale: float = 0.3


def random_shape(body: BodyModel, rng: np.random.Generator) -> np.ndarray:
    """(S,) float32 shape drawn uniformly within the body's shape ranges."""
    ranges = body.spec.shape_ranges.astype(np.float64)
    return rng.uniform(ranges[:, 0], ranges[:, 1]).astype(np.float32)


def random_root(rng: np.random.Generator, max_tilt_deg: float) -> np.ndarray:
    """(3,) axis-angle of a root rotation: any heading about +Y, then a tilt of up to ``max_tilt_deg``."""
    heading = rotation_matrix(np.array([0.0, 1.0, 0.0]) * rng.uniform(-np.pi, np.pi))
    axis = np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), 0.0, np.sin(a)])
    tilt = rotation_matrix(axis * np.radians(rng.uniform(0.0, max_tilt_deg)))
    return matrix_to_axis_angle(tilt @ heading).astype(np.float32)


def random_limb_pose(body: BodyModel, rng: np.random.Generator, scale: float) -> np.ndarray:
    """(J, 3) float32 pose with the root at zero and every other joint uniform in ``scale`` × its limits."""
    limits = np.radians(body.spec.pose_limits_deg.astype(np.float64)) * scale
    pose = rng.uniform(np.minimum(limits[..., 0], 0), np.maximum(limits[..., 1], 0))
    pose[0] = 0.0
    return pose.astype(np.float32)


def scan_points(mesh: Mesh, rng: np.random.Generator, sampling: ScanSampling, partial: bool) -> np.ndarray:
    """(n_points, 3) float32 noisy points on the mesh surface (all of it, or the side facing a camera)."""
    tri = mesh.vertices.astype(np.float64)[mesh.topology.faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    if partial:
        heading, elevation = rng.uniform(-np.pi, np.pi), np.radians(rng.uniform(-20.0, 40.0))
        toward_camera = np.array(
            [np.cos(elevation) * np.sin(heading), np.sin(elevation), np.cos(elevation) * np.cos(heading)]
        )
        area = np.where(cross @ toward_camera > 0, area, 0.0)
    which = rng.choice(len(area), size=sampling.n_points, p=area / area.sum())
    u, w = rng.uniform(size=(2, sampling.n_points))
    flip = u + w > 1
    u[flip], w[flip] = 1 - u[flip], 1 - w[flip]
    t = tri[which]
    points = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + w[:, None] * (t[:, 2] - t[:, 0])
    points += rng.normal(scale=rng.uniform(0.0, sampling.max_noise), size=points.shape)
    return points.astype(np.float32)


def random_body(body: BodyModel, rng: np.random.Generator, sampling: ScanSampling) -> BodyParams:
    """Random shape, root rotation and (with probability ``pose_fraction``) limb pose; zero translation."""
    params = body.default_params()
    pose = params.pose.copy()
    if rng.uniform() < sampling.pose_fraction:
        pose = random_limb_pose(body, rng, sampling.pose_scale)
    pose[0] = random_root(rng, sampling.max_tilt_deg)
    return params.replace(shape=random_shape(body, rng), pose=pose)


def rotation_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of an axis-angle vector (Rodrigues)."""
    rotvec = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """(3,) axis-angle of a (3, 3) rotation matrix (through a quaternion, stable at any angle)."""
    r = np.asarray(r, np.float64)
    trace = np.trace(r)
    i = int(np.argmax(np.diag(r)))
    if trace > r[i, i]:
        w = np.sqrt(1.0 + trace) / 2
        xyz = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (4 * w)
    else:  # Shepperd's method: build from the largest diagonal entry
        j, k = (i + 1) % 3, (i + 2) % 3
        xyz = np.empty(3)
        xyz[i] = np.sqrt(max(1.0 + r[i, i] - r[j, j] - r[k, k], 0.0)) / 2
        w = (r[k, j] - r[j, k]) / (4 * xyz[i])
        xyz[j] = (r[j, i] + r[i, j]) / (4 * xyz[i])
        xyz[k] = (r[k, i] + r[i, k]) / (4 * xyz[i])
    if w < 0:
        w, xyz = -w, -xyz
    norm = np.linalg.norm(xyz)
    if norm < 1e-12:
        return np.zeros(3)
    return xyz / norm * (2 * np.arctan2(norm, w))


__all__ = [
    "ScanSampling",
    "random_shape",
    "random_root",
    "random_limb_pose",
    "random_body",
    "scan_points",
    "rotation_matrix",
    "matrix_to_axis_angle",
]
