"""Nearest cloud point of every basis point, for a batch of clouds (exact, float32).

Three exact methods. ``method="auto"`` takes, for batches of at least ``DENSE_MIN_CLOUDS`` clouds of
at most ``DENSE_MAX_POINTS`` points each (BPS encoding of datasets, where basis points are mostly far
from the cloud), the fused kernel for 3-D clouds when Numba is installed and the dense method
otherwise; for single clouds, large clouds and queries close to the cloud (scan alignment) it takes
the KD-tree (the dense method when SciPy is missing).

``"fused"`` (3-D only, needs Numba)
    A compiled brute-force kernel that keeps a running minimum per basis point and never stores
    distance matrices; the fastest for BPS encoding (see :mod:`smplpix_rt.bps.fused`).

``"dense"``
    Blocked brute force in PyTorch. For each cloud, matrix products give the score ``2 b·x - |x|²``
    of every (basis point, cloud point) pair (the larger, the closer), a cache-sized chunk of basis
    points at a time; the cloud points are split into blocks of ``BLOCK`` and only each block's best
    score is kept. The best block is then searched again with exact differences ``|x - b|²``. The
    scores carry float32 rounding errors, bounded by ``eps = 16 u (|b - c| + max|x - c|)²`` with c the
    cloud's bounding-box centre (scores are taken around it); whenever other blocks score within
    ``2 eps`` of the best one, they are searched exactly too (the whole cloud when there are more than
    ``MAX_CANDIDATE_BLOCKS``), so the result never depends on that rounding. Uses PyTorch's intra-op
    threads.

``"kdtree"`` (needs SciPy)
    One ``scipy.spatial.cKDTree`` per cloud, clouds spread over a thread pool (SciPy releases the
    GIL while building and querying).

Ties (two cloud points at exactly the same distance) may resolve to either point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from smplpix_rt.bps.basis import as_clouds
from smplpix_rt.errors import BackendUnavailableError, InputError

Method = Literal["auto", "fused", "dense", "kdtree"]

BLOCK = 32
"""Cloud points per block in the dense method."""
DENSE_MAX_POINTS = 8192
"""``method="auto"`` uses the KD-tree for clouds with more points than this."""
DENSE_MIN_CLOUDS = 4
"""``method="auto"`` uses the KD-tree for batches of fewer clouds than this."""
SCORE_ELEMENTS = 1 << 18
"""Score-matrix floats per matrix product in the dense method (1 MiB: stays in L2 cache)."""
MAX_CANDIDATE_BLOCKS = 4
"""Basis points with more candidate blocks than this are searched over the whole cloud."""
REFINE_ELEMENTS = 1 << 22
"""Floats in the dense method's block-refinement buffer (16 MiB); sets how many clouds go per batch."""

# Unit roundoff of a float32 matrix product under each torch.get_float32_matmul_precision() setting.
_MATMUL_ROUNDOFF = {"highest": 2.0**-24, "high": 2.0**-11, "medium": 2.0**-8}


@dataclass(frozen=True)
class NearestPoints:
    """Result of :func:`nearest_points`.

    Attributes:
        distances: (C, M) float32 Euclidean distance from each basis point to its nearest cloud point.
        indices: (C, M) int64 index of that cloud point in its cloud.
    """

    distances: np.ndarray
    indices: np.ndarray


def nearest_points(
    clouds: np.ndarray, basis: np.ndarray, method: Method = "auto", workers: int | None = None
) -> NearestPoints:
    """For every cloud and every basis point, the nearest point of the cloud.

    Args:
        clouds: (C, P, D) clouds (or one (P, D) cloud; the results then drop the leading C).
        basis: (M, D) basis points.
        method: ``"fused"``, ``"dense"``, ``"kdtree"`` or ``"auto"`` (see the module docs).
        workers: threads of the fused and KD-tree methods (default: all cores); the dense method
            uses PyTorch's thread setting.

    Returns:
        :class:`NearestPoints` with (C, M) distances and indices.

    Raises:
        InputError: empty or non-finite clouds or basis, mismatched dimensions, unknown method, or
            the fused method on clouds that are not 3-D.
        BackendUnavailableError: ``"fused"`` without Numba, ``"kdtree"`` without SciPy.
    """
    from smplpix_rt.bps import fused

    x, single = as_clouds(clouds, "clouds")
    b = validate_basis(basis, x.shape[2])
    if method == "auto":
        method = _choose_method(x.shape, fused.available())
    if method == "fused":
        if x.shape[2] != 3:
            raise InputError(f"the 'fused' method handles 3-D points only, got {x.shape[2]}-D")
        d2, idx = fused.fused_nearest(x, b, workers)
        dist = np.sqrt(d2)
    elif method == "dense":
        d2, idx = _dense_nearest(x, b)
        dist = np.sqrt(d2)
    elif method == "kdtree":
        dist, idx = _kdtree_nearest(x, b, workers)
    else:
        raise InputError(f"unknown nearest-neighbour method {method!r}; use 'auto', 'fused', 'dense' or 'kdtree'")
    if single:
        return NearestPoints(dist[0], idx[0])
    return NearestPoints(dist, idx)


def _choose_method(shape: tuple[int, int, int], have_numba: bool) -> str:
    n_clouds, n_points, n_dims = shape
    if n_clouds >= DENSE_MIN_CLOUDS and n_points <= DENSE_MAX_POINTS:
        return "fused" if have_numba and n_dims == 3 else "dense"
    return "kdtree" if _have_scipy() else "dense"


def validate_basis(basis: np.ndarray, n_dims: int) -> np.ndarray:
    """(M, D) float32 contiguous basis; raises :class:`InputError` on a bad shape or values."""
    try:
        b = np.ascontiguousarray(np.asarray(basis, dtype=np.float32))
    except (TypeError, ValueError):
        raise InputError("basis must be a numeric array of shape (M, D)") from None
    if b.ndim != 2 or b.shape[0] == 0:
        raise InputError(f"basis must have shape (M, D) with M >= 1, got {b.shape}")
    if b.shape[1] != n_dims:
        raise InputError(f"basis points have {b.shape[1]} coordinates but the cloud points have {n_dims}")
    if not np.isfinite(b).all():
        raise InputError("basis contains NaN or infinite coordinates")
    return b


# ---------------------------------------------------------------------------------------------- dense


def _dense_nearest(x: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances and indices, (C, M) each, by blocked brute force (see module docs)."""
    import torch

    n_clouds, n_points, _ = x.shape
    n_basis = basis.shape[0]
    padded = -(-n_points // BLOCK) * BLOCK
    # Clouds per batch: bounded by the (c, M, D, BLOCK) refinement buffer, REFINE_ELEMENTS floats.
    batch = int(max(1, min(n_clouds, REFINE_ELEMENTS // (n_basis * x.shape[2] * BLOCK))))
    d2_out = np.empty((n_clouds, n_basis), np.float32)
    idx_out = np.empty((n_clouds, n_basis), np.int64)
    b = torch.from_numpy(basis)
    with torch.inference_mode():
        for c0 in range(0, n_clouds, batch):
            c1 = min(n_clouds, c0 + batch)
            xc = torch.from_numpy(x[c0:c1])
            if padded != n_points:  # pad with copies of the last point; they never beat the original
                xc = torch.cat([xc, xc[:, -1:].expand(-1, padded - n_points, -1)], 1)
            d2, idx = _dense_batch(xc, b)
            d2_out[c0:c1] = d2.numpy()
            idx_out[c0:c1] = idx.numpy()
    np.minimum(idx_out, n_points - 1, out=idx_out)  # padded copies stand for the last point
    return d2_out, idx_out


def _dense_batch(xc, b):
    """Clouds xc (c, P', D), basis b (M, D) → (c, M) squared distances and indices (torch)."""
    import torch

    n_clouds, padded, n_dims = xc.shape
    n_basis, n_blocks = b.shape[0], padded // BLOCK
    block_best, basis_norm, extent = _block_scores(xc, b)  # (c, M, G)-like layout, see there
    best, block = block_best.max(2)  # (c, K, step): the best block of every basis point
    roundoff = _MATMUL_ROUNDOFF.get(torch.get_float32_matmul_precision(), 2.0**-8)
    eps2 = 32.0 * roundoff * (basis_norm + extent[:, None]) ** 2  # twice the error bound, (c, K * step)
    # A second block within 2 eps of the best one may hold the nearest point: find those basis points.
    block_best.scatter_(2, block[:, :, None, :], float("-inf"))
    second = block_best.amax(2).reshape(n_clouds, -1)[:, :n_basis]
    block_best.scatter_(2, block[:, :, None, :], best[:, :, None, :])
    best, block = best.reshape(n_clouds, -1)[:, :n_basis], block.reshape(n_clouds, -1)[:, :n_basis]
    eps2 = eps2[:, :n_basis]

    # Exact differences inside the best block (blocks stored coordinate-major).
    blocks = xc.view(n_clouds * n_blocks, BLOCK, n_dims).transpose(1, 2).contiguous()  # (c*G, D, BLOCK)
    flat = (torch.arange(n_clouds)[:, None] * n_blocks + block).reshape(-1)
    diff = blocks.index_select(0, flat).view(n_clouds, n_basis, n_dims, BLOCK) - b[None, :, :, None]
    d2, j = diff.mul_(diff).sum(2).min(-1)  # (c, M)
    idx = block * BLOCK + j
    ambiguous = (second >= best - eps2).nonzero()
    if ambiguous.numel():
        step = block_best.shape[3]
        ci, mi = ambiguous[:, 0], ambiguous[:, 1]
        scores = block_best[ci, mi // step, :, mi % step]  # (F, G)
        _search_candidates(xc, blocks, b, scores, (best - eps2)[ci, mi], ci, mi, d2, idx)
    return d2, idx


def _block_scores(xc, b):
    """Pass 1: the best score ``2 b·x - |x|²`` of every block of every cloud, one cloud at a time.

    Scores are taken around each cloud's bounding-box centre, which keeps their rounding error
    small. Returns ``block_best`` (c, K, G, step) float32 — basis point ``k * step + i`` is
    ``[:, k, :, i]``, the basis padded with copies of its last point to ``K * step`` — the distances
    (c, K * step) of the basis points from the centres, and the clouds' radii (c,) around them.
    """
    import torch

    n_clouds, padded, n_dims = xc.shape
    n_blocks = padded // BLOCK
    step = int(min(b.shape[0], max(16, SCORE_ELEMENTS // padded)))
    n_steps = -(-b.shape[0] // step)
    basis = torch.cat([b, b[-1:].expand(n_steps * step - b.shape[0], -1)])
    xt = xc.transpose(1, 2).contiguous()  # (c, D, P'): reductions run along contiguous memory
    centre = (xt.amax(2) + xt.amin(2)) / 2  # (c, D)
    local = xt - centre[:, :, None]
    sq = (local * local).sum(1)  # (c, P')
    x_aug = torch.cat([local, sq[:, None, :]], 1)  # (c, D+1, P')
    block_best = torch.empty(n_clouds, n_steps, n_blocks, step)
    scores = torch.empty(padded, step)
    basis_norm = torch.empty(n_clouds, n_steps * step)
    for c in range(n_clouds):
        b_local = basis - centre[c]
        basis_norm[c] = b_local.norm(dim=1)
        b_aug = torch.cat([2.0 * b_local, -torch.ones(len(basis), 1)], 1).T.contiguous()  # (D+1, K * step)
        for k in range(n_steps):
            torch.mm(x_aug[c].T, b_aug[:, k * step : (k + 1) * step], out=scores)  # larger is closer
            torch.amax(scores.view(n_blocks, BLOCK, step), dim=1, out=block_best[c, k])
    return block_best, basis_norm, sq.amax(1).sqrt()


def _search_candidates(xc, blocks, b, scores, threshold, ci, mi, d2, idx) -> None:
    """Exact search of every block scoring above ``threshold`` for the (F,) basis points (ci, mi).

    ``scores``: (F, G) block scores. Up to ``MAX_CANDIDATE_BLOCKS`` candidate blocks are searched
    block by block; with more, the whole cloud is searched. Updates ``d2`` and ``idx`` in place.
    """
    n_dims, n_blocks = xc.shape[2], scores.shape[1]
    count = (scores >= threshold[:, None]).sum(1)
    few = count <= MAX_CANDIDATE_BLOCKS
    if few.any():
        fc, fm = ci[few], mi[few]
        top = scores[few].topk(min(MAX_CANDIDATE_BLOCKS, n_blocks), dim=1).indices  # (F, K)
        flat = (fc[:, None] * n_blocks + top).reshape(-1)
        diff = blocks.index_select(0, flat).view(len(fc), top.shape[1], n_dims, BLOCK) - b[fm][:, None, :, None]
        d2[fc, fm], k = diff.mul_(diff).sum(2).reshape(len(fc), -1).min(-1)
        idx[fc, fm] = top.gather(1, (k // BLOCK)[:, None])[:, 0] * BLOCK + k % BLOCK
    many_c, many_m = ci[~few], mi[~few]
    rows = max(1, REFINE_ELEMENTS // (xc.shape[1] * n_dims))
    for r0 in range(0, len(many_c), rows):  # the whole cloud, exactly, a few basis points at a time
        mc, mm = many_c[r0 : r0 + rows], many_m[r0 : r0 + rows]
        diff = xc[mc] - b[mm][:, None, :]  # (F, P', D)
        d2[mc, mm], idx[mc, mm] = diff.mul_(diff).sum(-1).min(-1)


# --------------------------------------------------------------------------------------------- kdtree


def _have_scipy() -> bool:
    import importlib.util

    return importlib.util.find_spec("scipy") is not None


def _kdtree_nearest(x: np.ndarray, basis: np.ndarray, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices, (C, M) each, with one KD-tree per cloud."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        from scipy.spatial import cKDTree
    except ImportError:
        raise BackendUnavailableError("the 'kdtree' nearest-neighbour method needs SciPy: pip install scipy") from None

    queries = basis.astype(np.float64)
    dist = np.empty((x.shape[0], basis.shape[0]), np.float32)
    idx = np.empty((x.shape[0], basis.shape[0]), np.int64)

    def one(c: int) -> None:
        tree = cKDTree(x[c].astype(np.float64), leafsize=16, balanced_tree=False, compact_nodes=False)
        dist[c], idx[c] = tree.query(queries, k=1)

    workers = max(1, min(x.shape[0], workers or os.cpu_count() or 1))
    if workers <= 1:
        for c in range(x.shape[0]):
            one(c)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(x.shape[0])))
    return dist, idx


__all__ = ["NearestPoints", "nearest_points", "validate_basis", "BLOCK", "DENSE_MAX_POINTS", "DENSE_MIN_CLOUDS"]
