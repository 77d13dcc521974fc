"""SmplxBody against ``smplx.SMPLX`` itself, on a synthetic model file with the real key layout."""

from __future__ import annotations

import numpy as np
import pytest

from smplpix_rt.body import load_body_model
from smplpix_rt.body.skinning import is_closed_surface
from smplpix_rt.errors import InputError, ModelFileError

pytestmark = pytest.mark.smplx

TOL = 1e-4  # metres
#: int8 pose correctives (the default where they run) round each matrix entry by up to
#: max|column| / 254: up to ~0.3 mm on this file's random-noise correctives at the test poses.
INT8_TOL = 5e-4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from smplx_fixture import write_synthetic_smplx

    folder = tmp_path_factory.mktemp("smplx")
    write_synthetic_smplx(folder)
    return folder


@pytest.fixture(scope="module", params=[("numba", "int8"), ("numba", "int16"), ("torch", "float32")], ids=str)
def body(model_dir, request):
    """Every kernel set and corrective precision: Numba (fused skinning) with int8 or int16
    correctives, and PyTorch with float32 ones."""
    from smplpix_rt.body import kernels
    from smplpix_rt.body.smplx_body import SmplxBody

    kernel_set, precision = request.param
    if kernel_set == "numba" and not kernels.available():
        pytest.skip("Numba is not installed")
    if precision == "int8" and not kernels.paired_available():
        pytest.skip("int8 correctives need an x86-64 CPU with AVX2")
    return SmplxBody(model_dir, kernels=kernel_set, corrective_precision=precision)


def _tol(body) -> float:
    return INT8_TOL if body.corrective_precision == "int8" else TOL


@pytest.fixture(scope="module")
def reference(model_dir):
    import contextlib
    import io

    import smplx

    with contextlib.redirect_stdout(io.StringIO()):
        return smplx.SMPLX(str(model_dir / "SMPLX_NEUTRAL.npz"), use_pca=False, flat_hand_mean=True)


def _smplx_output(reference, params):
    import torch

    p = torch.from_numpy(params.pose.reshape(1, -1))
    with torch.no_grad():
        out = reference(
            betas=torch.from_numpy(params.shape)[None],
            expression=torch.from_numpy(params.expression)[None],
            global_orient=p[:, :3],
            body_pose=p[:, 3:66],
            jaw_pose=p[:, 66:69],
            leye_pose=p[:, 69:72],
            reye_pose=p[:, 72:75],
            left_hand_pose=p[:, 75:120],
            right_hand_pose=p[:, 120:165],
            transl=torch.from_numpy(params.translation)[None],
        )
    return out.vertices[0].numpy(), out.joints[0, :55].numpy()


def _random_params(body, rng):
    return body.default_params().replace(
        pose=rng.normal(size=(55, 3)) * 0.4,
        shape=rng.normal(size=10),
        expression=rng.normal(size=10),
        translation=rng.normal(size=3),
    )


def test_matches_smplx_for_random_parameters(body, reference):
    import torch

    rng = np.random.default_rng(0)
    for _ in range(3):
        params = body.validate(_random_params(body, rng))
        vertices, joints = _smplx_output(reference, params)
        lift = np.array([0.0, body.ground_lift(params.shape, params.expression), 0.0], np.float32)
        torch.testing.assert_close(
            torch.from_numpy(body.forward(params).vertices), torch.from_numpy(vertices + lift), atol=_tol(body), rtol=0
        )
        torch.testing.assert_close(
            torch.from_numpy(body.joints(params)), torch.from_numpy(joints + lift), atol=TOL, rtol=0
        )


def test_incremental_pose_correctives_stay_exact(body, reference):
    """Many single-joint edits (the slider case) accumulate no drift in the corrective offsets."""
    import torch

    rng = np.random.default_rng(1)
    params = body.validate(_random_params(body, rng))
    pose = params.pose.copy()
    for step in range(150):
        pose[rng.integers(1, 55)] += rng.normal(size=3).astype(np.float32) * 0.1
        mesh = body.forward(params.replace(pose=pose))
        if step % 50 == 49:
            vertices, _ = _smplx_output(reference, params.replace(pose=pose))
            vertices[:, 1] += body.ground_lift(params.shape, params.expression)
            torch.testing.assert_close(
                torch.from_numpy(mesh.vertices), torch.from_numpy(vertices), atol=_tol(body), rtol=0
            )


def test_int8_correctives_stay_within_their_error_bound(model_dir):
    """The int8 body differs from the int16 one by no more than the int8 matrix's stated bound."""
    from smplpix_rt.body import kernels
    from smplpix_rt.body import skinning as sk
    from smplpix_rt.body.smplx_body import SmplxBody

    if not kernels.paired_available():
        pytest.skip("int8 correctives need an x86-64 CPU with AVX2")
    int8 = SmplxBody(model_dir, corrective_precision="int8")
    int16 = SmplxBody(model_dir, corrective_precision="int16")
    rng = np.random.default_rng(4)
    for _ in range(3):
        params = int8.validate(_random_params(int8, rng))
        features = (sk.axis_angle_to_matrix(params.pose.astype(np.float64))[1:] - np.eye(3)).reshape(-1)
        # Skinning blends rotations (norm <= 1), so a vertex moves by at most its offset error's length.
        bound = sum(
            np.linalg.norm(body._correctives.quantized.error_bound(features).reshape(-1, 3), axis=1)
            for body in (int8, int16)
        )
        gap = np.linalg.norm(int8.forward(params).vertices - int16.forward(params).vertices, axis=1)
        assert gap.max() > 0  # really another matrix
        assert (gap <= bound + 1e-5).all()


def test_corrective_precision_is_checked(model_dir, monkeypatch):
    from smplpix_rt.body import kernels
    from smplpix_rt.body.smplx_body import SmplxBody, resolve_corrective_precision
    from smplpix_rt.errors import BackendUnavailableError

    with pytest.raises(InputError, match="corrective_precision must be one of"):
        SmplxBody(model_dir, corrective_precision="int4")
    assert resolve_corrective_precision("auto", "torch") == "float32"
    monkeypatch.setattr(kernels, "paired_available", lambda: False)
    assert resolve_corrective_precision("auto", "numba") == "int16"
    with pytest.raises(BackendUnavailableError, match="AVX2"):
        resolve_corrective_precision("int8", "numba")


def test_pose_correctives_can_be_switched_off(model_dir, body):
    from smplx_fixture import synthetic_smplx_arrays

    from smplpix_rt.body.smplx_body import SmplxBody

    fast = SmplxBody(model_dir, pose_correctives=False)
    params = body.validate(_random_params(body, np.random.default_rng(2)))
    moved = np.linalg.norm(fast.forward(params).vertices - body.forward(params).vertices, axis=1) > 1e-6
    has_correctives = np.abs(synthetic_smplx_arrays()["posedirs"]).sum(axis=(1, 2)) > 0
    assert moved.any() and not (moved & ~has_correctives).any()


def test_spec_frame_and_topology(body):
    from smplx.joint_names import JOINT_NAMES

    spec = body.spec
    assert spec.name == "smplx" and spec.joint_names == tuple(JOINT_NAMES[:55])
    assert spec.num_shape == 10 and spec.num_expression == 10
    assert np.all(spec.shape_ranges == [-3, 3]) and np.all(spec.shape_defaults == 0)
    mesh = body.forward(body.default_params())
    assert mesh.vertices[:, 1].min() == pytest.approx(0.0, abs=1e-5)
    assert body.topology.uv is None and body.topology.faces.dtype == np.int32
    assert body.topology.vertex_colors.shape == (10475, 3)
    assert body.topology.closed == is_closed_surface(body.topology.faces)
    np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-5)


def test_more_coefficients_than_the_file_has_warns(model_dir):
    from smplpix_rt.body.smplx_body import SmplxBody

    with pytest.warns(UserWarning, match="10 shape and 10 expression"):
        body = SmplxBody(model_dir, num_betas=16)
    assert body.spec.num_shape == 10


def test_file_resolution_and_errors(tmp_path, model_dir):
    from smplpix_rt.body.smplx_body import SmplxBody, resolve_model_file

    nested = tmp_path / "models"
    (nested / "smplx").mkdir(parents=True)
    (nested / "smplx" / "SMPLX_MALE.npz").write_bytes((model_dir / "SMPLX_NEUTRAL.npz").read_bytes())
    assert resolve_model_file(nested, "male") == nested / "smplx" / "SMPLX_MALE.npz"
    with pytest.raises(ModelFileError, match=r"SMPLX_NEUTRAL\.npz.*smpl-x\.is\.tue\.mpg\.de"):
        SmplxBody(tmp_path / "empty_dir_that_does_not_exist")
    with pytest.raises(ModelFileError, match="no SMPLX_FEMALE.npz"):
        SmplxBody(nested, gender="female")
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(ModelFileError, match=r"\.npz or \.pkl"):
        resolve_model_file(tmp_path / "model.txt")
    wrong = tmp_path / "wrong" / "SMPLX_NEUTRAL.npz"
    wrong.parent.mkdir()
    np.savez(wrong, v_template=np.zeros((3, 3)))
    with pytest.raises(ModelFileError, match="could not load SMPL-X model"):
        SmplxBody(wrong.parent)
    with pytest.raises(InputError, match="gender"):
        SmplxBody(model_dir, gender="other")


def test_load_body_model_smplx(model_dir):
    body = load_body_model("smplx", model_dir, gender="neutral")
    assert body.spec.name == "smplx"
    with pytest.raises(InputError, match="unknown SMPL-X options"):
        load_body_model("smplx", model_dir, colour=None)
