"""Pose presets, mirroring, random poses and expression presets on Anny and (synthetic) SMPL-X."""

from __future__ import annotations

import numpy as np
import pytest

from smplpix_rt.body import poses
from smplpix_rt.body.anny_body import AnnyBody
from smplpix_rt.errors import InputError


@pytest.fixture(scope="module")
def anny() -> AnnyBody:
    return AnnyBody()


@pytest.fixture(scope="module")
def smplx_body(tmp_path_factory):
    pytest.importorskip("smplx")
    from smplx_fixture import write_synthetic_smplx

    from smplpix_rt.body.smplx_body import SmplxBody

    return SmplxBody(write_synthetic_smplx(tmp_path_factory.mktemp("smplx")))


def _direction(joints, index, a, b):
    d = joints[index[b]] - joints[index[a]]
    return d / np.linalg.norm(d)


def _check_presets(body):
    presets = poses.pose_presets(body)
    assert {"zero", "t-pose", "a-pose", "walk", "sit", "wave", "arms-crossed"} <= set(presets)
    index = poses.joint_indices(body.spec)
    base = body.default_params()
    for name, pose in presets.items():
        assert pose.shape == (body.spec.num_joints, 3) and np.isfinite(pose).all(), name
    j = {name: body.joints(base.replace(pose=p)) for name, p in presets.items()}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for a, b in (("shoulder", "elbow"), ("elbow", "wrist")):
            seg = (f"{side}_{a}", f"{side}_{b}")
            np.testing.assert_allclose(_direction(j["t-pose"], index, *seg), [sign, 0, 0], atol=1e-5)
            s = np.sqrt(0.5)
            np.testing.assert_allclose(_direction(j["a-pose"], index, *seg), [sign * s, -s, 0], atol=1e-5)
    # walk: the left thigh swings forwards and the right arm forwards; sit: thighs horizontal, forwards
    assert _direction(j["walk"], index, "left_hip", "left_knee")[2] > 0.3
    assert _direction(j["walk"], index, "right_shoulder", "right_elbow")[2] > 0.2
    assert _direction(j["sit"], index, "left_hip", "left_knee")[2] > 0.9
    assert _direction(j["wave"], index, "right_elbow", "right_wrist")[1] > 0.8  # forearm up
    crossed = j["arms-crossed"]
    assert crossed[index["left_wrist"]][0] < crossed[index["left_elbow"]][0] - 0.1  # forearm across the body


def test_presets_on_anny(anny):
    _check_presets(anny)


@pytest.mark.smplx
def test_presets_on_smplx(smplx_body):
    _check_presets(smplx_body)


def test_anny_zero_pose_is_an_a_pose(anny):
    index = poses.joint_indices(anny.spec)
    upper = _direction(anny.joints(anny.default_params()), index, "left_shoulder", "left_elbow")
    assert -55 < np.degrees(np.arcsin(upper[1])) < -40  # about 48 degrees below the horizontal


def test_mirror_pose_reflects_the_skeleton(anny):
    rng = np.random.default_rng(0)
    base = anny.default_params()
    pose = poses.random_pose(anny, rng, 0.6, include_root=True)
    mirrored = poses.mirror_pose(anny, pose)
    np.testing.assert_array_equal(poses.mirror_pose(anny.spec, mirrored), pose)
    joints = anny.joints(base.replace(pose=pose))
    joints_m = anny.joints(base.replace(pose=mirrored))
    names = anny.spec.joint_names
    swap = [names.index(poses.mirror_name(n) or n) for n in names]
    # Anny's rig is symmetric to about a millimetre; a wrong axis flip would be off by centimetres.
    np.testing.assert_allclose(joints_m, joints[swap] * [-1, 1, 1], atol=3e-3)
    walk = poses.pose_preset(anny, "walk")
    jw = anny.joints(base.replace(pose=poses.mirror_pose(anny, walk)))
    assert jw[names.index("lowerleg01.R")][2] > jw[names.index("lowerleg01.L")][2] + 0.1  # now the right leg leads


def test_mirror_pose_rejects_wrong_shapes(anny):
    with pytest.raises(InputError, match="shape"):
        poses.mirror_pose(anny, np.zeros((10, 3)))


def test_random_pose_respects_limits_and_seed(anny):
    spec = anny.spec
    a = poses.random_pose(spec, np.random.default_rng(7), scale=0.3)
    b = poses.random_pose(spec, np.random.default_rng(7), scale=0.3)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and np.all(a[0] == 0)
    degrees = np.degrees(a)
    limits = spec.pose_limits_deg * 0.3
    assert np.all(degrees >= limits[..., 0] - 1e-4) and np.all(degrees <= limits[..., 1] + 1e-4)
    assert np.abs(degrees).max() > 5
    with pytest.raises(InputError, match="scale"):
        poses.random_pose(spec, np.random.default_rng(0), scale=2.0)


def test_random_edits_change_pose_shape_and_camera_on_their_schedule(anny):
    spec, base = anny.spec, anny.default_params()
    base = base.replace(pose=poses.random_pose(spec, np.random.default_rng(1), include_root=True))
    rng, again = np.random.default_rng(3), np.random.default_rng(3)
    params = base
    for index in range(23):
        edited, yaw = poses.random_edit(spec, params, base.shape, rng, index)
        same, same_yaw = poses.random_edit(spec, params, base.shape, again, index)
        np.testing.assert_array_equal(edited.pose, same.pose)  # reproducible from the seed
        assert yaw == same_yaw
        np.testing.assert_array_equal(edited.pose[0], base.pose[0])  # the body keeps its orientation
        assert not np.array_equal(edited.pose[1:], params.pose[1:])
        assert (index % 7 == 0) == (not np.array_equal(edited.shape, params.shape))
        assert (index % 11 == 0) == (yaw is not None) and (yaw is None or -60 <= yaw <= 60)
        ranges = spec.shape_ranges
        assert np.all(edited.shape >= ranges[:, 0]) and np.all(edited.shape <= ranges[:, 1])
        params = edited


def test_expression_presets(anny):
    presets = poses.expression_presets(anny)
    names = anny.spec.expression_names
    assert {"neutral", "smile", "surprise", "blink"} <= set(presets)
    smile = poses.expression_preset(anny, "smile")
    assert smile[names.index("mouthSmileLeft")] > 0.5 and smile.shape == (52,)
    assert np.all(presets["neutral"] == 0)
    with pytest.raises(InputError, match="available"):
        poses.expression_preset(anny, "grumpy")
    with pytest.raises(InputError, match="unknown pose preset"):
        poses.pose_preset(anny, "cartwheel")


@pytest.mark.smplx
def test_smplx_has_no_named_expressions(smplx_body):
    assert poses.expression_presets(smplx_body) == {}
    with pytest.raises(InputError, match="no expression preset"):
        poses.expression_preset(smplx_body, "smile")
