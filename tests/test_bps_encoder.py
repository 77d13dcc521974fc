"""BPS encoder: bases and normalization follow the original procedure; cells match brute force."""

from __future__ import annotations

import numpy as np
import pytest

from smplpix_rt.bps import (
    denormalize,
    encode,
    grid_basis,
    grid_size_for,
    nearest_points,
    normalize,
    random_basis,
)
from smplpix_rt.errors import InputError


def _original_random_basis(n_points, n_dims, radius, seed):
    """The original procedure, literally: seed the global legacy generator, draw, reseed."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        x = np.random.normal(size=[n_points, n_dims])
        x_unit = x / np.sqrt(np.sum(np.square(x), axis=1)).reshape([-1, 1])
        r = np.random.uniform(size=[n_points, 1])
        return radius * x_unit * np.power(r, 1.0 / n_dims)
    finally:
        np.random.set_state(state)


def _brute_force(clouds, basis):
    """float64 reference: (C, M) distances and the (C, M, D) nearest points."""
    x = clouds.astype(np.float64)
    d = np.sqrt(((x[:, None, :, :] - basis.astype(np.float64)[None, :, None, :]) ** 2).sum(-1))
    idx = d.argmin(-1)
    return d.min(-1), np.take_along_axis(x, idx[..., None], axis=1)


def _clouds(n_clouds, n_points, n_dims=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_clouds, n_points, n_dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1).max(axis=1)[:, None, None]


@pytest.mark.parametrize("n_points, n_dims, radius, seed", [(512, 3, 1.5, 13), (100, 2, 1.7, 0), (7, 5, 0.3, 123)])
def test_random_basis_reproduces_the_original_draw(n_points, n_dims, radius, seed):
    expected = _original_random_basis(n_points, n_dims, radius, seed)
    basis = random_basis(n_points, n_dims, radius, seed)
    assert basis.dtype == np.float32 and basis.shape == (n_points, n_dims)
    np.testing.assert_array_equal(basis, expected.astype(np.float32))
    assert np.linalg.norm(basis, axis=1).max() <= radius * (1 + 1e-6)


def test_random_basis_defaults_and_global_state():
    state = np.random.get_state()[1].copy()
    basis = random_basis()
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the caller's global generator is untouched
    np.testing.assert_array_equal(basis, _original_random_basis(512, 3, 1.5, 13).astype(np.float32))
    assert not np.array_equal(basis, random_basis(seed=14))


def test_grid_basis_is_the_original_meshgrid():
    axes = [np.linspace(-1.7, 1.7, num=5) for _ in range(3)]
    coords = np.meshgrid(*axes)
    expected = np.concatenate([c.reshape([-1, 1]) for c in coords], axis=1)
    np.testing.assert_array_equal(grid_basis(5, 3, -1.7, 1.7), expected.astype(np.float32))
    assert grid_basis(4, 2).shape == (16, 2)
    assert grid_size_for(512) == 8 and grid_size_for(1000) == 10 and grid_size_for(100, 2) == 10


def test_normalize_matches_the_original_scalers_and_inverts():
    rng = np.random.default_rng(1)
    clouds = (rng.normal(size=(4, 300, 3)) * [1, 2, 3] + [0.5, -1.0, 2.0]).astype(np.float32)
    normalized, mean, scale = normalize(clouds)
    assert normalized.shape == clouds.shape and mean.shape == (4, 3) and scale.shape == (4, 1)
    x = clouds.astype(np.float64)
    np.testing.assert_allclose(mean, x.mean(1), rtol=1e-6, atol=1e-6)
    # As in the original: the largest norm of the points before centring.
    np.testing.assert_allclose(scale[:, 0], np.linalg.norm(x, axis=-1).max(1), rtol=1e-6)
    np.testing.assert_allclose(normalized, (x - x.mean(1, keepdims=True)) / scale[:, :, None], atol=1e-6)
    np.testing.assert_allclose(denormalize(normalized, mean, scale), clouds, atol=1e-5)


def test_normalize_centered_fits_the_unit_ball_and_known_scalers_apply():
    clouds = _clouds(3, 200) + np.float32(5.0)  # far from the origin
    normalized, mean, scale = normalize(clouds, scale_from="centered")
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=-1).max(1), 1.0, rtol=1e-5)
    again, _, _ = normalize(clouds, mean=mean, scale=scale)
    np.testing.assert_allclose(again, normalized, atol=1e-6)
    single, m1, s1 = normalize(clouds[0], scale_from="centered")
    assert single.shape == (200, 3) and m1.shape == (3,) and s1.shape == (1,)
    np.testing.assert_allclose(single, normalized[0], atol=1e-6)


@pytest.mark.parametrize("method", ["fused", "dense", "kdtree", "auto"])
@pytest.mark.parametrize("n_points, n_dims", [(2048, 3), (1000, 3), (1, 3), (77, 2)])
def test_cells_match_brute_force(method, n_points, n_dims):
    clouds = _clouds(4, n_points, n_dims, seed=n_points)
    basis = random_basis(256, n_dims, 1.7, 13)
    if method == "kdtree":
        pytest.importorskip("scipy")
    if method == "fused":
        pytest.importorskip("numba")
        if n_dims != 3:
            with pytest.raises(InputError, match="3-D points only"):
                encode(clouds, basis, "dists", method)
            return
    ref_dist, ref_closest = _brute_force(clouds, basis)

    dists = encode(clouds, basis, "dists", method)
    assert dists.shape == (4, 256) and dists.dtype == np.float32
    np.testing.assert_allclose(dists, ref_dist, rtol=1e-5, atol=1e-6)

    closest = encode(clouds, basis, "closest", method)
    deltas = encode(clouds, basis, "deltas", method)
    assert closest.shape == deltas.shape == (4, 256, n_dims)
    np.testing.assert_allclose(deltas, closest - basis[None], atol=1e-6)
    # The chosen point is a cloud point at the minimal distance (either one of exact ties is fine).
    np.testing.assert_allclose(np.linalg.norm(deltas, axis=-1), ref_dist, rtol=1e-5, atol=1e-6)
    in_cloud = (np.abs(closest[:, :, None, :] - clouds[:, None, :, :]).max(-1) == 0).any(-1)
    assert in_cloud.all()
    if n_points > 1:  # random data has no ties: the very same points
        np.testing.assert_allclose(closest, ref_closest, atol=1e-6)


@pytest.mark.parametrize("method", ["dense", "fused"])
def test_grid_basis_on_grid_points_gives_exact_zeros(method):
    """Basis points that coincide with cloud points: float32 rounding must not pick a neighbour."""
    if method == "fused":
        pytest.importorskip("numba")
    basis = grid_basis(8, 3, -1.0, 1.0)
    rng = np.random.default_rng(3)
    cloud = np.concatenate([basis[rng.permutation(len(basis))[:300]], rng.uniform(-1, 1, size=(700, 3))])
    cloud = cloud.astype(np.float32)[rng.permutation(1000)]
    dists = encode(cloud, basis, "dists", method)
    ref, _ = _brute_force(cloud[None], basis)
    np.testing.assert_allclose(dists, ref[0], rtol=1e-6, atol=1e-7)
    assert (dists == 0).sum() == 300


def test_equidistant_points_and_far_clouds_stay_exact():
    """Exact ties across blocks and large coordinates take the exact fallback path."""
    angles = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], 1).astype(np.float32)
    basis = np.array([[0, 0, 0], [0, 0, 1], [0, 0, -2]], np.float32)  # every ring point is equally close
    dists = encode(ring, basis, "dists", "dense")
    np.testing.assert_allclose(dists, [1.0, np.sqrt(2), np.sqrt(5)], rtol=1e-6)

    # Two equidistant points in different blocks, all others far away: a few exact candidate blocks.
    pair = np.full((64, 3), 5.0, np.float32) + np.arange(64, dtype=np.float32)[:, None]
    pair[3], pair[40] = [1, 0, 0], [-1, 0, 0]
    nearest = nearest_points(pair[None].repeat(4, 0), np.zeros((1, 3), np.float32), "dense")
    np.testing.assert_allclose(nearest.distances, 1.0)
    assert set(nearest.indices.ravel()) <= {3, 40}

    far = _clouds(2, 500, seed=5) + np.float32(1000.0)
    far_basis = random_basis(64, 3, 1.5, 13) + np.float32(1000.0)
    ref, _ = _brute_force(far, far_basis)
    np.testing.assert_allclose(encode(far, far_basis, "dists", "dense"), ref, rtol=1e-4, atol=2e-4)


def test_single_cloud_and_indices():
    cloud = _clouds(1, 300)[0]
    basis = random_basis(32)
    nearest = nearest_points(cloud, basis)
    assert nearest.distances.shape == (32,) and nearest.indices.shape == (32,)
    np.testing.assert_allclose(np.linalg.norm(cloud[nearest.indices] - basis, axis=1), nearest.distances, rtol=1e-6)
    assert encode(cloud, basis, "deltas").shape == (32, 3)


def test_matches_the_scikit_learn_encoder_of_the_original():
    neighbors = pytest.importorskip("sklearn.neighbors")
    clouds = _clouds(4, 2048, seed=9)
    normalized, _, _ = normalize(clouds)
    basis = random_basis(512, 3, 1.7, 13)
    expected = np.stack(
        [
            neighbors.NearestNeighbors(n_neighbors=1, leaf_size=1, algorithm="ball_tree")
            .fit(c.astype(np.float64))
            .kneighbors(basis.astype(np.float64))[0][:, 0]
            for c in normalized
        ]
    )
    np.testing.assert_allclose(encode(normalized, basis, "dists"), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "clouds, basis, message",
    [
        (np.zeros((2, 0, 3)), np.zeros((4, 3)), "no points"),
        (np.zeros((0, 5, 3)), np.zeros((4, 3)), "no cloud"),
        (np.array([[[0, 0, np.nan]] * 4]), np.zeros((4, 3)), "NaN"),
        (np.zeros((5,)), np.zeros((4, 3)), "shape"),
        (np.zeros((1, 5, 3)), np.zeros((4, 2)), "coordinates"),
        (np.zeros((1, 5, 3)), np.zeros((0, 3)), "M >= 1"),
        (np.zeros((1, 5, 3)), np.full((4, 3), np.inf), "NaN or infinite"),
        ("not numbers", np.zeros((4, 3)), "numeric"),
    ],
)
def test_bad_clouds_and_bases_raise_clear_errors(clouds, basis, message):
    with pytest.raises(InputError, match=message):
        encode(clouds, basis)


def test_bad_options_and_degenerate_clouds_raise():
    cloud = _clouds(1, 10)
    with pytest.raises(InputError, match="cell type"):
        encode(cloud, random_basis(4), "features")
    with pytest.raises(InputError, match="method"):
        nearest_points(cloud, random_basis(4), "ball")
    with pytest.raises(InputError, match="origin"):
        normalize(np.zeros((2, 10, 3)))
    with pytest.raises(InputError, match="coincide"):
        normalize(np.ones((1, 10, 3)), scale_from="centered")
    with pytest.raises(InputError, match="scale_from"):
        normalize(cloud, scale_from="bbox")
    with pytest.raises(InputError, match="mean must have shape"):
        normalize(cloud, mean=np.zeros(3), scale=np.ones((1, 1)))
    for bad in [dict(n_points=0), dict(radius=-1.0), dict(seed=-1), dict(n_dims=2.5)]:
        with pytest.raises(InputError):
            random_basis(**bad)
    with pytest.raises(InputError, match="minv <= maxv"):
        grid_basis(4, 3, 1.0, -1.0)


def test_importing_bps_loads_no_heavy_or_optional_module():
    import subprocess
    import sys

    heavy = ["torch", "scipy", "h5py", "sklearn", "tqdm", "safetensors", "numba"]
    code = f"import sys, smplpix_rt.bps, smplpix_rt.bps.cli;print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
