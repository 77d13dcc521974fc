"""AnnyBody from the shipped bake: frame, invariants of skinning and blendshapes, caching, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from smplpix_rt.body import load_body_model
from smplpix_rt.body.anny_body import AnnyBody
from smplpix_rt.body.skinning import axis_angle_to_matrix
from smplpix_rt.errors import InputError, ModelFileError


@pytest.fixture(scope="module")
def body() -> AnnyBody:
    return AnnyBody()


def _subtree(spec, root: int) -> list[int]:
    out = [root]
    for j in range(root + 1, spec.num_joints):
        if spec.joint_parents[j] in out:
            out.append(j)
    return out


def test_spec_and_topology(body):
    spec, topo = body.spec, body.topology
    assert spec.name == "anny" and spec.num_joints == 104 and spec.joint_names[0] == "root"
    assert spec.joint_parents[0] == -1 and all(spec.joint_parents[1:] < np.arange(1, 104))
    assert spec.shape_names == ("gender", "age", "muscle", "weight", "height", "proportions")
    assert np.all(spec.shape_defaults == 0.5) and spec.num_expression == 52 and "jawOpen" in spec.expression_names
    assert spec.pose_limits_deg.shape == (104, 3, 2)
    assert np.all(spec.pose_limits_deg[..., 0] <= 0) and np.all(spec.pose_limits_deg[..., 1] >= 0)
    assert topo.num_vertices == 14898 and topo.faces.shape == (27420, 3) and topo.faces.dtype == np.int32
    assert topo.faces.min() == 0 and topo.faces.max() == topo.num_vertices - 1
    assert np.abs(topo.rest_coords).max() == pytest.approx(1.0, abs=1e-6)
    assert topo.uv.shape == (14898, 2) and 0 <= topo.uv.min() and topo.uv.max() <= 1
    assert topo.vertex_colors.min() >= 0 and topo.vertex_colors.max() <= 1
    assert topo.closed  # one closed surface once the seams are joined: the rasterizer skips back faces


def test_zero_pose_stands_on_the_floor_facing_forwards(body):
    mesh = body.forward(body.default_params())
    v = mesh.vertices
    assert v.dtype == np.float32 and v.shape == (14898, 3)
    assert v[:, 1].min() == pytest.approx(0.0, abs=1e-5)
    assert 1.5 < v[:, 1].max() < 1.9  # metres, +Y up
    joints = body.joints(body.default_params())
    names = body.spec.joint_names
    assert joints[names.index("eye.L")][2] > joints[names.index("head")][2]  # faces +Z
    assert joints[names.index("wrist.L")][0] > 0.3 > -0.3 > joints[names.index("wrist.R")][0]  # left is +X
    faces = mesh.topology.faces
    v64 = v.astype(np.float64)
    volume = np.einsum("ij,ij->i", v64[faces[:, 0]], np.cross(v64[faces[:, 1]], v64[faces[:, 2]])).sum() / 6
    assert volume > 0.03  # counter-clockwise seen from outside


def test_canonical_rest_mesh_matches_the_baked_arrays(body):
    """rest_coords are the baked template plus phenotype offsets at 0.5, recomputed here in float64."""
    d = body.bake
    coeffs = d.phenotype_coefficients(np.full(6, 0.5))
    basis = d.phenotype_vertex_basis.astype(np.float64).reshape(len(coeffs), -1)
    rest = d.template_vertices + ((coeffs @ d.phenotype_vertex_mix.astype(np.float64)) @ basis).reshape(-1, 3)
    rest = rest[d.render_to_base]
    lo, hi = rest.min(0), rest.max(0)
    expected = (rest - (lo + hi) / 2) / ((hi - lo).max() / 2)
    np.testing.assert_allclose(body.topology.rest_coords, expected, atol=2e-6)


def test_root_rotation_is_rigid_about_the_root(body):
    base = body.default_params()
    rest = body.forward(base).vertices.astype(np.float64)
    pivot = body.joints(base)[0].astype(np.float64)
    rotvec = np.array([0.3, -1.1, 0.4])
    pose = base.pose.copy()
    pose[0] = rotvec
    moved = body.forward(base.replace(pose=pose)).vertices
    expected = (rest - pivot) @ axis_angle_to_matrix(rotvec).T + pivot
    np.testing.assert_allclose(moved, expected, atol=2e-5)


def test_joint_rotation_moves_only_its_skinned_subtree(body):
    spec, d = body.spec, body.bake
    elbow = spec.joint_names.index("lowerarm01.L")
    subtree = _subtree(spec, elbow)
    weights = d.skin_weights[d.render_to_base] * np.isin(d.skin_indices[d.render_to_base], subtree)
    influence = weights.sum(1)
    base = body.default_params()
    pose = base.pose.copy()
    pose[elbow] = [-1.0, -0.9, 0.0]  # bend the left elbow
    delta = np.linalg.norm(body.forward(base.replace(pose=pose)).vertices - body.forward(base).vertices, axis=1)
    assert delta[influence == 0].max() < 1e-6
    assert delta[influence > 0.99].min() > 1e-3
    assert (influence > 0.99).sum() > 500  # forearm and hand


def test_translation_shifts_everything(body):
    base = body.default_params()
    t = np.array([0.5, -0.2, 3.0], np.float32)
    np.testing.assert_allclose(
        body.forward(base.replace(translation=t)).vertices, body.forward(base).vertices + t, atol=1e-5
    )


def test_height_phenotype_changes_height_and_keeps_feet_on_floor(body):
    base = body.default_params()
    heights = []
    for h in (0.0, 1.0):
        shape = base.shape.copy()
        shape[body.spec.shape_names.index("height")] = h
        v = body.forward(base.replace(shape=shape)).vertices
        assert v[:, 1].min() == pytest.approx(0.0, abs=1e-5)
        heights.append(v[:, 1].max())
    assert heights[1] - heights[0] > 0.15


def test_expression_moves_only_the_face(body):
    base = body.default_params()
    expression = np.zeros(52, np.float32)
    expression[body.spec.expression_names.index("jawOpen")] = 1.0
    before = body.forward(base).vertices
    after = body.forward(base.replace(expression=expression)).vertices
    moved = np.linalg.norm(after - before, axis=1) > 1e-6
    neck = body.joints(base)[body.spec.joint_names.index("neck01")]
    assert moved.sum() > 100 and np.linalg.norm(after - before, axis=1).max() > 5e-3
    assert before[moved, 1].min() > neck[1] - 0.05


def test_pose_only_edits_reuse_the_rest_state(body):
    base = body.default_params()
    first = body.forward(base)
    rest = body._rest
    pose = base.pose.copy()
    pose[50] = [0.0, 0.5, 0.0]
    second = body.forward(base.replace(pose=pose))
    assert body._rest is rest
    assert not np.shares_memory(first.vertices, second.vertices)
    assert np.abs(first.vertices - second.vertices).max() > 1e-3  # the first mesh was not overwritten
    shape = base.shape.copy()
    shape[0] = 0.9
    body.forward(base.replace(shape=shape))
    assert body._rest is not rest


def test_skinned_normals_match_the_posed_surface(body):
    """Unit normals close to the area-weighted normals of the posed triangles (hence outwards)."""
    from smplpix_rt.body.poses import random_pose

    rng = np.random.default_rng(3)
    base = body.default_params()
    for pose in (base.pose, random_pose(body.spec, rng, 0.5, include_root=True)):
        mesh = body.forward(base.replace(pose=pose))
        np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-5)
        v, f = mesh.vertices.astype(np.float64), mesh.topology.faces
        face_normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        surface = np.zeros_like(v)
        for k in range(3):
            np.add.at(surface, f[:, k], face_normals)
        surface /= np.linalg.norm(surface, axis=1, keepdims=True)
        agreement = np.einsum("ij,ij->i", surface, mesh.normals)
        assert np.median(agreement) > 0.99 and (agreement > 0.5).mean() > 0.97


def test_invalid_parameters_raise_input_error(body):
    base = body.default_params()
    with pytest.raises(InputError, match="pose must have shape"):
        body.forward(base.replace(pose=np.zeros((55, 3))))
    bad = base.pose.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        body.forward(base.replace(pose=bad))


def test_missing_or_wrong_file_raises_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="anny_bake"):
        AnnyBody(tmp_path / "nothing.npz")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, something=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a baked Anny body file"):
        AnnyBody(wrong)
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a readable"):
        AnnyBody(tmp_path / "garbage.npz")


def test_load_body_model_names():
    assert load_body_model().spec.name == "anny"
    with pytest.raises(InputError, match="available: anny, smplx"):
        load_body_model("smpl")
    with pytest.raises(InputError, match="smpl-x.is.tue.mpg.de"):
        load_body_model("smplx")
    with pytest.raises(InputError, match="unknown anny options"):
        load_body_model("anny", gender="male")


def test_runtime_does_not_import_anny():
    code = (
        "import sys; from smplpix_rt.body.anny_body import AnnyBody; b = AnnyBody(); "
        "b.forward(b.default_params()); print('anny' in sys.modules, 'smplx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_bench_body_reports_positive_times(body):
    from smplpix_rt.body.bench import bench_body

    report = bench_body(body, iters=3)
    assert report["body"] == "anny" and report["vertices"] == 14898
    assert all(report[k] > 0 for k in ("pose_only_ms", "motion_ms", "single_joint_ms", "full_update_ms"))
