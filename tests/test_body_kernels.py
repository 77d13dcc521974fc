"""The Numba SMPL-X kernels against plain NumPy / PyTorch formulations."""

from __future__ import annotations

import numpy as np
import pytest

from smplpix_rt.body import kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="Numba is not installed")


@pytest.fixture(scope="module")
def matrix():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(90, 1000)).astype(np.float32) * np.logspace(-4, -1, 1000, dtype=np.float32)
    m[:, 7] = 0.0  # an all-zero column keeps a zero scale
    return m


def test_quantized_matvec_stays_within_its_error_bound(matrix):
    q = kernels.QuantizedMatrix.from_dense(matrix)
    x = np.random.default_rng(1).uniform(-2, 2, size=90).astype(np.float32)
    exact = x.astype(np.float64) @ matrix.astype(np.float64)
    got = q.matvec(x)
    assert got.shape == (1000,) and got[7] == 0.0
    bound = q.error_bound(x) + 1e-5 * (np.abs(x) @ np.abs(matrix))  # quantization + float32 summation
    assert (np.abs(got - exact) <= bound).all()
    # The quantization is real (not a float32 copy) but fine: errors are far below the values.
    assert 0 < np.abs(q.dequantize() - matrix).max() <= q.max_entry_error.max()
    assert np.abs(got - exact).max() < 1e-4 * np.abs(exact).max()


@pytest.mark.parametrize("count", [1, 3, 4, 6, 9])  # rows are taken four at a time, then one by one
def test_quantized_matvec_over_a_row_subset(matrix, count):
    q = kernels.QuantizedMatrix.from_dense(matrix)
    rows = np.array([3, 17, 18, 89, 40, 41, 0, 63, 7][:count])
    x = np.random.default_rng(count).uniform(-2, 2, size=count).astype(np.float32)
    np.testing.assert_allclose(q.matvec(x, rows), x @ q.dequantize()[rows], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError):
        q.matvec(x[:-1], rows)


needs_pairs = pytest.mark.skipif(not kernels.paired_available(), reason="int8 kernel needs an x86-64 CPU with AVX2")


def _input_rounding(q, x, rows_of_matrix):
    """Bound on what rounding ``x`` to the kernel's 15-bit inputs changes in ``x @ rows_of_matrix``."""
    pairs = -(-len(x) // 2) if len(x) == q.num_rows else len(x)  # at most one pair per given row
    step = np.abs(x).max() / q.input_limit(pairs)
    return 0.5 * step * np.abs(rows_of_matrix).astype(np.float64).sum(0)


@needs_pairs
@pytest.mark.parametrize("num_rows", [90, 91])  # an odd count pads one zero row
def test_paired_int8_matvec_stays_within_its_error_bound(matrix, num_rows):
    m = np.concatenate([matrix, matrix[:1] * 0.5])[:num_rows]
    q = kernels.PairedInt8Matrix.from_dense(m)
    x = np.random.default_rng(1).uniform(-2, 2, size=num_rows).astype(np.float32)
    exact = x.astype(np.float64) @ m.astype(np.float64)
    got = q.matvec(x)
    assert got.shape == (1000,) and got[7] == 0.0
    assert (np.abs(got - exact) <= q.error_bound(x) + 1e-6 * (np.abs(x) @ np.abs(m))).all()
    assert 0 < np.abs(q.dequantize() - m).max() <= q.max_entry_error.max()
    # Coarser than int16, but the integer sums are exact: against the int8 matrix itself, only
    # the 15-bit inputs round.
    exact_q = x.astype(np.float64) @ q.dequantize().astype(np.float64)
    assert (np.abs(got - exact_q) <= _input_rounding(q, x, q.dequantize()) + 1e-6 * np.abs(exact_q) + 1e-9).all()
    assert np.abs(got - exact).max() < 1e-2 * np.abs(exact).max()


@needs_pairs
@pytest.mark.parametrize("count", [1, 2, 3, 9])
def test_paired_int8_matvec_over_a_row_subset(matrix, count):
    q = kernels.PairedInt8Matrix.from_dense(matrix)
    rows = np.array([3, 17, 18, 89, 40, 41, 0, 63, 7][:count])  # pairs shared and not
    x = np.random.default_rng(count).uniform(-2, 2, size=count).astype(np.float32)
    chosen = q.dequantize()[rows]
    want = x.astype(np.float64) @ chosen.astype(np.float64)
    assert (np.abs(q.matvec(x, rows) - want) <= _input_rounding(q, x, chosen) + 1e-6 * np.abs(want) + 1e-9).all()
    assert (np.abs(q.matvec(x, rows) - x @ matrix[rows]) <= q.error_bound(x, rows) + 1e-6).all()
    assert not q.matvec(np.zeros(count, np.float32), rows).any()
    with pytest.raises(ValueError):
        q.matvec(x[:-1], rows)


@needs_pairs
def test_paired_int8_sums_do_not_overflow_at_the_extremes():
    """Every entry at +-127 and every input at the limit: the largest sums int32 must hold."""
    k, n = 486, 256
    m = np.where(np.arange(k)[:, None] % 3 == 0, -1.0, 1.0).astype(np.float32) * np.ones((k, n), np.float32)
    m[:, ::2] = 1.0  # even columns: all +1 (the largest sum); odd columns: mixed signs
    q = kernels.PairedInt8Matrix.from_dense(m)
    for sign in (1.0, -1.0):
        x = np.full(k, sign, np.float32)
        np.testing.assert_allclose(q.matvec(x), x @ m, rtol=1e-6)


def test_fused_skinning_matches_the_torch_formulation():
    import torch

    from smplpix_rt.body import skinning as sk

    rng = np.random.default_rng(2)
    v, j = 500, 12
    dense = np.zeros((v, j), np.float32)
    for row in dense:
        cols = rng.choice(j, 3, replace=False)
        row[cols] = rng.dirichlet(np.ones(3))
    rest = rng.normal(size=(v, 3)).astype(np.float32)
    normals = rng.normal(size=(v, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    normals[0] = 0.0  # an unused vertex keeps a zero normal
    offsets = rng.normal(size=(v, 3)).astype(np.float32) * 0.01
    rotations = sk.axis_angle_to_matrix(rng.normal(size=(j, 3)))
    transforms = sk.skinning_transforms(sk.rigid(rotations, rng.normal(size=(j, 3))), None, np.zeros((j, 3)))
    shift = np.array([0.1, 0.2, 0.3], np.float32)

    got_v, got_n = kernels.skin(rest, normals, offsets, *kernels.padded_weights(dense), transforms, shift)
    blended = sk.blend_transforms(sk.SparseWeights.from_dense(dense), transforms)
    want_v = sk.apply_affine(blended, torch.from_numpy(rest + offsets).t().contiguous()).t().numpy() + shift
    want_n = sk.normalize_planar(sk.apply_linear(blended, torch.from_numpy(normals).t().contiguous())).t().numpy()
    np.testing.assert_allclose(got_v, want_v, atol=1e-5)
    np.testing.assert_allclose(got_n, want_n, atol=1e-5)
    assert not got_n[0].any()
    no_offsets, _ = kernels.skin(rest, normals, None, *kernels.padded_weights(dense), transforms, shift)
    assert np.abs(no_offsets - got_v).max() > 1e-3


def test_padded_weights_keep_every_non_zero():
    dense = np.array([[0.0, 0.7, 0.3], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    index, weight = kernels.padded_weights(dense)
    assert index.shape == weight.shape == (3, 2)
    rebuilt = np.zeros_like(dense)
    np.add.at(rebuilt, (np.repeat(np.arange(3), 2), index.reshape(-1)), weight.reshape(-1))
    np.testing.assert_array_equal(rebuilt, dense)


def test_anny_kernels_agree():
    from smplpix_rt.body.anny_body import AnnyBody
    from smplpix_rt.body.poses import random_pose

    fused, reference = AnnyBody(kernels="numba"), AnnyBody(kernels="torch")
    rng = np.random.default_rng(3)
    spec = fused.spec
    for _ in range(3):
        params = fused.default_params().replace(
            pose=random_pose(spec, rng, 0.5, include_root=True),
            shape=rng.uniform(0, 1, spec.num_shape).astype(np.float32),
            expression=rng.uniform(0, 0.5, spec.num_expression).astype(np.float32),
            translation=rng.normal(size=3).astype(np.float32),
        )
        a, b = fused.forward(params), reference.forward(params)
        np.testing.assert_allclose(a.vertices, b.vertices, atol=2e-6)
        # Normals of the face's tiniest triangles carry float32 rounding of ~6e-5 in either path
        # (both measured against a float64 pass); they are summed in different orders.
        np.testing.assert_allclose(a.normals, b.normals, atol=1e-4)


def test_kernel_choice_is_checked():
    from smplpix_rt.errors import InputError

    assert kernels.choose("auto") == "numba" and kernels.choose("torch") == "torch"
    with pytest.raises(InputError, match="'auto', 'numba' or 'torch'"):
        kernels.choose("fast")


def test_local_normals_equal_a_full_pass():
    import torch
    from raster_meshes import sphere_mesh

    from smplpix_rt.body import skinning as sk

    mesh = sphere_mesh(rings=12, segments=24)
    faces = mesh.topology.faces.astype(np.int64)
    count = mesh.vertices.shape[0]
    moving = np.arange(count // 3, count // 2)
    full = sk.VertexNormals.from_faces(faces, count)
    local = sk.LocalNormals.around(faces, count, moving)
    before = torch.from_numpy(mesh.vertices.copy())
    after = before.clone()
    after[moving] += torch.from_numpy(np.random.default_rng(4).normal(size=(moving.size, 3)).astype(np.float32)) * 0.05
    updated = local.update(full(before), after)
    torch.testing.assert_close(updated, full(after), atol=1e-6, rtol=0)
    assert 0 < local.affected.numel() < count  # only a band around the moving vertices is redone


def test_local_blendshapes_equal_a_full_pass_in_render_order():
    import torch
    from raster_meshes import sphere_mesh

    from smplpix_rt.body import skinning as sk

    mesh = sphere_mesh(rings=12, segments=24)
    faces = mesh.topology.faces.astype(np.int64)
    count = mesh.vertices.shape[0]
    rng = np.random.default_rng(5)
    moving = np.arange(count // 3, count // 2)
    deltas = rng.normal(size=(4, moving.size * 3)).astype(np.float32) * 0.03
    weights = np.array([0.5, 0.0, 1.0, 0.25], np.float32)
    render_to_mesh = np.concatenate([np.arange(count), moving[::3], [0, count - 1]])  # split seams repeat vertices
    patch = kernels.LocalBlendshapes.build(faces, count, moving, deltas, render_to_mesh)
    full = sk.VertexNormals.from_faces(faces, count)
    before = mesh.vertices.astype(np.float32)
    after = before.copy()
    after[moving] += (weights @ deltas).reshape(-1, 3)
    rows_before = before[render_to_mesh], full(torch.from_numpy(before)).numpy()[render_to_mesh]
    vertex_rows, normal_rows = patch.apply(weights, before, *rows_before)
    np.testing.assert_allclose(vertex_rows, after[render_to_mesh], atol=1e-6)
    np.testing.assert_allclose(normal_rows, full(torch.from_numpy(after)).numpy()[render_to_mesh], atol=1e-5)
    np.testing.assert_array_equal(rows_before[0], before[render_to_mesh])  # the inputs are left alone
    assert 0 < patch.affected.size < count
