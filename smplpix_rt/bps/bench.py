"""Encoder throughput against the scikit-learn encoder of the original BPS code.

The reference is the original's straightforward loop: one ``NearestNeighbors(n_neighbors=1,
leaf_size=1, algorithm="ball_tree")`` fitted per cloud and queried with the basis, in one process,
on the float64 clouds its ``normalize`` returns. It needs scikit-learn (``pip install scikit-learn``);
without it only this package's methods are timed. Numbers are the best of ``repeats`` runs (wall
clock), in clouds per second; the first run of each method is a warm-up (imports, compilation).
"""

from __future__ import annotations

import os
import time

import numpy as np

from smplpix_rt.bps import fused
from smplpix_rt.bps.basis import normalize, random_basis
from smplpix_rt.bps.search import nearest_points
from smplpix_rt.bps.synthetic_shapes import synthetic_shapes


def benchmark_encoder(
    n_clouds: int = 64,
    n_points: int = 2048,
    n_basis: int = 512,
    repeats: int = 3,
    compare_sklearn: bool = True,
    seed: int = 0,
) -> dict:
    """Time the encoder's nearest-neighbour search on noisy shape clouds.

    Returns:
        JSON-ready dict: the problem size; per method and thread count ``clouds_per_second`` (wall
        clock) and ``clouds_per_cpu_second`` (this process's CPU time, all threads: the fairer
        figure on a machine shared with other work); with scikit-learn, both speed-ups over it and
        the largest distance difference to it.
    """
    clouds, _, _ = synthetic_shapes(-(-n_clouds // 5), n_points, seed=seed)
    clouds, _, _ = normalize(clouds[:n_clouds])
    basis = random_basis(n_basis, 3, 1.5, 13)
    rates = _time_methods(clouds, basis, repeats)
    result = {
        "clouds": n_clouds,
        "points_per_cloud": n_points,
        "basis_points": n_basis,
        "cpu_count": os.cpu_count(),
        "auto_method": "fused" if fused.available() else "dense",
    }
    if compare_sklearn:
        reference = _sklearn_reference(clouds, basis, repeats)
        if reference is None:
            result["sklearn"] = "not installed (pip install scikit-learn)"
        else:
            rates["sklearn_original"], distances = reference
            ours = nearest_points(clouds, basis).distances
            result["max_abs_difference_vs_sklearn"] = float(np.abs(ours - distances).max())
    for i, key in enumerate(("clouds_per_second", "clouds_per_cpu_second")):
        result[key] = {name: round(r[i], 1) for name, r in rates.items()}
        if "sklearn_original" in rates:
            base = rates["sklearn_original"][i]
            prefix = "" if i == 0 else "cpu_"
            result[f"{prefix}speedup_vs_sklearn"] = {n: round(r[i] / base, 1) for n, r in rates.items()}
    return result


def _time_methods(clouds: np.ndarray, basis: np.ndarray, repeats: int) -> dict[str, tuple[float, float]]:
    import torch

    n_clouds = len(clouds)
    counts = sorted({1, max(1, os.cpu_count() or 1)})
    rates = {}
    for method in ("fused", "kdtree"):
        if method == "fused" and not fused.available():
            continue
        for threads in counts:
            run = lambda m=method, t=threads: nearest_points(clouds, basis, m, workers=t)  # noqa: E731
            rates[_label(method, threads)] = _rate(run, n_clouds, repeats)
    previous = torch.get_num_threads()
    try:
        for threads in counts:
            torch.set_num_threads(threads)
            rates[_label("dense", threads)] = _rate(lambda: nearest_points(clouds, basis, "dense"), n_clouds, repeats)
    finally:
        torch.set_num_threads(previous)
    return rates


def _label(method: str, threads: int) -> str:
    return f"{method}_{threads}_thread{'s' if threads > 1 else ''}"


def _rate(run, n_clouds: int, repeats: int) -> tuple[float, float]:
    """(clouds per wall-clock second, clouds per CPU second), each the best of ``repeats`` runs."""
    run()  # warm-up: imports, compilation, allocations
    wall = cpu = float("inf")
    for _ in range(max(1, repeats)):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return n_clouds / wall, n_clouds / max(cpu, 1e-9)


def _sklearn_reference(clouds: np.ndarray, basis: np.ndarray, repeats: int):
    try:
        from sklearn.neighbors import NearestNeighbors
    except ImportError:
        return None
    x, b = clouds.astype(np.float64), basis.astype(np.float64)
    out = np.zeros((len(x), len(b)))

    def run():
        for i, cloud in enumerate(x):
            nbrs = NearestNeighbors(n_neighbors=1, leaf_size=1, algorithm="ball_tree").fit(cloud)
            out[i] = nbrs.kneighbors(b)[0][:, 0]

    return _rate(run, len(x), repeats), out.astype(np.float32)


__all__ = ["benchmark_encoder"]
