"""Fused brute-force nearest-neighbour kernel for 3-D clouds, compiled with Numba (optional).

For each cloud the kernel walks the cloud points once and, for every point, updates the running
best squared distance and index of all basis points in one vectorizable loop (basis coordinates
stored per axis). Nothing of size P x M is ever written, which is what limits the PyTorch dense
method. Distances are exact float32 differences ``|x - b|²`` (IEEE arithmetic, no fast-math);
among exactly equal distances the first cloud point wins.

The kernel releases the GIL; clouds are split over a thread pool. It is compiled on first use
(a few seconds) and cached next to this file when that folder is writable. Requires ``numba``
(``pip install numba``); :func:`available` tells whether it can be used.
"""

from __future__ import annotations

import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from smplpix_rt.errors import BackendUnavailableError

_KERNEL = None


def available() -> bool:
    """True when Numba is installed."""
    return importlib.util.find_spec("numba") is not None


def fused_nearest(x: np.ndarray, basis: np.ndarray, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances (C, M) float32 and indices (C, M) int64 for (C, P, 3) clouds and (M, 3) basis.

    Raises:
        BackendUnavailableError: Numba is not installed.
    """
    kernel = _kernel()
    n_clouds = x.shape[0]
    axes = np.ascontiguousarray(basis.T, np.float32)  # (3, M)
    d2 = np.empty((n_clouds, basis.shape[0]), np.float32)
    idx = np.empty((n_clouds, basis.shape[0]), np.int32)
    workers = max(1, min(n_clouds, workers or os.cpu_count() or 1))
    bounds = np.linspace(0, n_clouds, workers + 1).astype(int)
    if workers == 1:
        kernel(x, axes, d2, idx)
    else:
        with ThreadPoolExecutor(workers) as pool:
            spans = zip(bounds[:-1], bounds[1:], strict=True)
            jobs = [pool.submit(kernel, x[a:b], axes, d2[a:b], idx[a:b]) for a, b in spans]
            for job in jobs:
                job.result()
    return d2, idx.astype(np.int64)


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        try:
            import numba
        except ImportError:
            message = "the 'fused' nearest-neighbour method needs Numba: pip install numba"
            raise BackendUnavailableError(message) from None
        _KERNEL = numba.njit(nogil=True, cache=True)(_nearest_kernel)
    return _KERNEL


def _nearest_kernel(clouds, axes, d2_out, idx_out):  # pragma: no cover - compiled by Numba
    n_clouds, n_points, _ = clouds.shape
    n_basis = axes.shape[1]
    bx, by, bz = axes[0], axes[1], axes[2]
    for c in range(n_clouds):
        best = np.full(n_basis, np.inf, np.float32)
        best_index = np.zeros(n_basis, np.int32)
        for p in range(n_points):
            x, y, z = clouds[c, p, 0], clouds[c, p, 1], clouds[c, p, 2]
            for m in range(n_basis):  # vectorized by the compiler: selects, no branches
                dx, dy, dz = x - bx[m], y - by[m], z - bz[m]
                d = dx * dx + dy * dy + dz * dz
                closer = d < best[m]
                best[m] = d if closer else best[m]
                best_index[m] = p if closer else best_index[m]
        d2_out[c] = best
        idx_out[c] = best_index


__all__ = ["available", "fused_nearest"]
