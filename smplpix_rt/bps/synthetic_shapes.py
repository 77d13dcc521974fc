"""Small generated shape-classification sets: noisy surface samples of simple solids.

Used to check that the BPS classifier learns without the real ModelNet40 files, and to write
ModelNet-layout HDF5 files for tests. Every shape is sampled uniformly over its surface area, then
stretched per axis, rotated uniformly at random, shifted and perturbed with Gaussian noise.
"""

from __future__ import annotations

import numpy as np

from smplpix_rt.errors import InputError

SHAPE_CLASSES: tuple[str, ...] = ("sphere", "box", "cylinder", "torus", "cone")


def synthetic_shapes(
    n_per_class: int, n_points: int = 2048, seed: int = 0, noise: float = 0.01
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A balanced, shuffled set of noisy shape clouds.

    Args:
        n_per_class: clouds per class.
        n_points: points per cloud.
        seed: random seed (the same seed gives the same set).
        noise: standard deviation of the Gaussian noise added to each coordinate.

    Returns:
        ``(points, labels, class_names)``: (N, n_points, 3) float32, (N,) int64 labels indexing
        ``class_names`` (:data:`SHAPE_CLASSES`), N = 5 * n_per_class.

    Raises:
        InputError: non-positive counts or negative noise.
    """
    if n_per_class < 1 or n_points < 1:
        raise InputError(f"need n_per_class >= 1 and n_points >= 1, got {n_per_class} and {n_points}")
    if not noise >= 0:
        raise InputError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    samplers = (_sphere, _box, _cylinder, _torus, _cone)
    clouds, labels = [], []
    for label, sampler in enumerate(samplers):
        for _ in range(n_per_class):
            points = sampler(rng, n_points) * rng.uniform(0.6, 1.4, size=3)
            points = points @ random_rotation(rng).T + rng.uniform(-0.2, 0.2, size=3)
            clouds.append(points + rng.normal(scale=noise, size=points.shape))
            labels.append(label)
    order = rng.permutation(len(labels))
    return np.asarray(clouds, np.float32)[order], np.asarray(labels, np.int64)[order], SHAPE_CLASSES


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """(3, 3) rotation drawn uniformly from SO(3) (from a random unit quaternion)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _sphere(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.normal(size=(n, 3))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def _box(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.uniform(-1.0, 1.0, size=(n, 3))
    axis = rng.integers(0, 3, size=n)  # the cube's faces have equal areas
    p[np.arange(n), axis] = rng.choice([-1.0, 1.0], size=n)
    return p


def _cylinder(rng: np.random.Generator, n: int) -> np.ndarray:
    # Radius 1, height 2: side area 4π, the two caps 2π together.
    on_side = rng.uniform(size=n) < 4.0 / 6.0
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radius = np.where(on_side, 1.0, np.sqrt(rng.uniform(size=n)))
    height = np.where(on_side, rng.uniform(-1.0, 1.0, size=n), rng.choice([-1.0, 1.0], size=n))
    return np.stack([radius * np.cos(angle), height, radius * np.sin(angle)], 1)


def _torus(rng: np.random.Generator, n: int, major: float = 1.0, minor: float = 0.35) -> np.ndarray:
    out = np.empty((0, 3))
    while len(out) < n:  # rejection sampling: the area element grows with the distance from the axis
        theta = rng.uniform(0.0, 2.0 * np.pi, size=2 * n)
        phi = rng.uniform(0.0, 2.0 * np.pi, size=2 * n)
        keep = rng.uniform(size=2 * n) < (major + minor * np.cos(phi)) / (major + minor)
        ring = major + minor * np.cos(phi[keep])
        p = np.stack([ring * np.cos(theta[keep]), minor * np.sin(phi[keep]), ring * np.sin(theta[keep])], 1)
        out = np.concatenate([out, p])
    return out[:n]


def _cone(rng: np.random.Generator, n: int) -> np.ndarray:
    # Apex at y = 1, base radius 1 at y = -1: lateral area π·√5, base area π.
    lateral = rng.uniform(size=n) < np.sqrt(5.0) / (np.sqrt(5.0) + 1.0)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    t = np.sqrt(rng.uniform(size=n))  # distance from the apex, area-uniform
    radius = np.where(lateral, t, np.sqrt(rng.uniform(size=n)))
    height = np.where(lateral, 1.0 - 2.0 * t, -1.0)
    return np.stack([radius * np.cos(angle), height, radius * np.sin(angle)], 1)


__all__ = ["SHAPE_CLASSES", "synthetic_shapes", "random_rotation"]
