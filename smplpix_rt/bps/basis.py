"""Basis point arrangements and point-cloud normalization.

Everything here follows the original basis point set work (Prokudin et al., ICCV 2019) so that
features computed here feed models trained there and the other way round:

* :func:`random_basis` draws from NumPy's legacy generator in the same order as the original:
  seed, ``normal(size=(n, d))`` directions scaled to unit length, then ``uniform(size=(n, 1)) ** (1/d)``
  radii times the ball radius. It uses a private ``RandomState``, which yields exactly the numbers the
  seeded global generator yields without disturbing the caller's global random state.
* :func:`grid_basis` is ``np.meshgrid`` (default ``"xy"`` indexing) of ``linspace(minv, maxv, grid_size)``
  per axis, flattened axis by axis.
* :func:`normalize` subtracts each cloud's mean and divides by its largest point norm, measured, as in the
  original, on the points *before* centring (``scale_from="input"``); ``scale_from="centered"`` measures it
  after centring, which guarantees the result lies in the unit ball.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from smplpix_rt.errors import InputError

DEFAULT_NUM_POINTS = 512
DEFAULT_RADIUS = 1.5
DEFAULT_SEED = 13


def random_basis(
    n_points: int = DEFAULT_NUM_POINTS, n_dims: int = 3, radius: float = DEFAULT_RADIUS, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Points drawn uniformly from a ball, reproducibly.

    Args:
        n_points: number of basis points n.
        n_dims: dimension d of the space.
        radius: ball radius.
        seed: seed of NumPy's legacy generator (``np.random.seed`` semantics).

    Returns:
        (n, d) float32 basis points.

    Raises:
        InputError: non-positive sizes or radius, or a seed outside [0, 2**32).
    """
    _check_positive_int(n_points, "n_points")
    _check_positive_int(n_dims, "n_dims")
    if not (np.isfinite(radius) and radius > 0):
        raise InputError(f"basis radius must be a positive number, got {radius!r}")
    if not 0 <= int(seed) < 2**32:
        raise InputError(f"basis seed must be within [0, 2**32), got {seed!r}")
    rng = np.random.RandomState(int(seed))
    directions = rng.normal(size=[n_points, n_dims])
    directions = directions / np.sqrt(np.sum(np.square(directions), axis=1)).reshape([-1, 1])
    radii = np.power(rng.uniform(size=[n_points, 1]), 1.0 / n_dims)
    return (radius * directions * radii).astype(np.float32)


def grid_basis(grid_size: int = 32, n_dims: int = 3, minv: float = -1.0, maxv: float = 1.0) -> np.ndarray:
    """A regular grid with ``grid_size`` nodes per axis from ``minv`` to ``maxv``.

    Returns:
        (grid_size ** n_dims, n_dims) float32 grid nodes in ``np.meshgrid`` ("xy") order.

    Raises:
        InputError: non-positive sizes, non-finite bounds or ``minv > maxv``.
    """
    _check_positive_int(grid_size, "grid_size")
    _check_positive_int(n_dims, "n_dims")
    if not (np.isfinite(minv) and np.isfinite(maxv) and minv <= maxv):
        raise InputError(f"grid bounds must be finite with minv <= maxv, got minv={minv!r}, maxv={maxv!r}")
    axes = [np.linspace(minv, maxv, num=grid_size) for _ in range(n_dims)]
    coords = np.meshgrid(*axes)
    return np.concatenate([c.reshape([-1, 1]) for c in coords], axis=1).astype(np.float32)


def grid_size_for(n_points: int, n_dims: int = 3) -> int:
    """Grid nodes per axis closest to ``n_points`` nodes in total (the original's rounding rule)."""
    _check_positive_int(n_points, "n_points")
    _check_positive_int(n_dims, "n_dims")
    return max(1, int(np.round(np.power(n_points, 1.0 / n_dims))))


def normalize(
    clouds: np.ndarray,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    scale_from: Literal["input", "centered"] = "input",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre each cloud at its mean and divide it by its largest point norm.

    Args:
        clouds: (C, P, D) batch of clouds, or one (P, D) cloud.
        mean: known centres, (C, D) (or (D,) for one cloud); computed when None.
        scale: known scales, (C, 1) (or (1,)); computed when None.
        scale_from: ``"input"`` measures the largest norm on the points as given, like the original
            (a cloud far from the origin then ends up smaller than the unit ball); ``"centered"``
            measures it after centring, so every point ends up within the unit ball.

    Returns:
        ``(normalized, mean, scale)``: float32 arrays of shapes (C, P, D), (C, D), (C, 1), without
        the leading C for a single cloud. ``denormalize(*normalize(x))`` gives back ``x``.

    Raises:
        InputError: empty or non-finite clouds, a cloud whose scale would be zero, scalers of the
            wrong shape, or an unknown ``scale_from``.
    """
    if scale_from not in ("input", "centered"):
        raise InputError(f"scale_from must be 'input' or 'centered', got {scale_from!r}")
    x, single = as_clouds(clouds, "clouds")
    n_clouds, _, n_dims = x.shape
    x64 = x.astype(np.float64)
    if mean is None:
        mean64 = x64.mean(axis=1)
    else:
        mean64 = _scaler(mean, (n_clouds, n_dims), single, "mean")
    if scale is None:
        measured = x64 if scale_from == "input" else x64 - mean64[:, None, :]
        scale64 = np.sqrt(np.square(measured).sum(-1)).max(axis=1, keepdims=True)
    else:
        scale64 = _scaler(scale, (n_clouds, 1), single, "scale")
    bad = np.flatnonzero(~(scale64[:, 0] > 0))
    if bad.size:
        what = "all its points lie at the origin" if scale_from == "input" else "all its points coincide"
        raise InputError(f"cloud {int(bad[0])} cannot be normalized: {what} (scale {float(scale64[bad[0], 0])})")
    normalized = ((x64 - mean64[:, None, :]) / scale64[:, :, None]).astype(np.float32)
    mean32, scale32 = mean64.astype(np.float32), scale64.astype(np.float32)
    if single:
        return normalized[0], mean32[0], scale32[0]
    return normalized, mean32, scale32


def denormalize(normalized: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalize`: ``normalized * scale + mean`` per cloud.

    Args:
        normalized: (C, P, D) clouds (or one (P, D) cloud), e.g. ``closest`` BPS cells.
        mean: (C, D) (or (D,)) centres returned by :func:`normalize`.
        scale: (C, 1) (or (1,)) scales returned by :func:`normalize`.

    Returns:
        float32 clouds with the shape of ``normalized``.
    """
    x, single = as_clouds(normalized, "normalized clouds", allow_empty=True)
    n_clouds, _, n_dims = x.shape
    mean64 = _scaler(mean, (n_clouds, n_dims), single, "mean")
    scale64 = _scaler(scale, (n_clouds, 1), single, "scale")
    out = (x.astype(np.float64) * scale64[:, :, None] + mean64[:, None, :]).astype(np.float32)
    return out[0] if single else out


def as_clouds(clouds: np.ndarray, name: str = "clouds", allow_empty: bool = False) -> tuple[np.ndarray, bool]:
    """Validate a batch of clouds: returns a (C, P, D) float32 array and whether one cloud was given.

    Raises:
        InputError: not numeric, wrong rank, no points or dimensions, or NaN / infinite coordinates.
    """
    try:
        x = np.asarray(clouds, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric array of shape (C, P, D) or (P, D)") from None
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3:
        raise InputError(f"{name} must have shape (C, P, D) or (P, D), got an array of shape {x.shape}")
    if x.shape[2] == 0:
        raise InputError(f"{name} have zero coordinates per point (shape {x.shape})")
    if x.shape[0] == 0 and not allow_empty:
        raise InputError(f"{name} hold no cloud (shape {x.shape})")
    if x.shape[1] == 0 and not allow_empty:
        raise InputError(f"{name} have no points (shape {x.shape}); every cloud needs at least one point")
    finite = np.isfinite(x).all(axis=(1, 2))
    if not finite.all():
        raise InputError(f"cloud {int(np.flatnonzero(~finite)[0])} of the {name} contains NaN or infinite coordinates")
    return np.ascontiguousarray(x), single


def _scaler(values: np.ndarray, shape: tuple[int, int], single: bool, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if single and a.shape == shape[1:]:
        a = a[None]
    if a.shape != shape:
        expected = shape[1:] if single else shape
        raise InputError(f"{name} must have shape {expected}, got {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return a


def _check_positive_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")


__all__ = [
    "DEFAULT_NUM_POINTS",
    "DEFAULT_RADIUS",
    "DEFAULT_SEED",
    "random_basis",
    "grid_basis",
    "grid_size_for",
    "normalize",
    "denormalize",
    "as_clouds",
]
