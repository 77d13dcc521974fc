"""Pose-sequence files (JSON, AMASS-style .npz), sampling, and the demo motion."""

from __future__ import annotations

import json

import numpy as np
import pytest

from smplpix_rt.body.anny_body import AnnyBody
from smplpix_rt.body.sequence import (
    FORMAT_NAME,
    Z_UP_TO_Y_UP,
    PoseSequence,
    demo_motion,
    load_sequence,
    save_sequence,
)
from smplpix_rt.body.skinning import axis_angle_to_matrix, matrix_to_axis_angle
from smplpix_rt.errors import InputError


@pytest.fixture(scope="module")
def anny() -> AnnyBody:
    return AnnyBody()


def _write(path, doc):
    path.write_text(json.dumps(doc))
    return path


def _doc(**changes):
    doc = {
        "format": FORMAT_NAME,
        "version": 1,
        "body_model": "anny",
        "fps": 24,
        "shape": {"height": 0.8},
        "frames": [
            {"pose": {"lowerarm01.L": [0, -45, 0]}, "translation": [0, 0, 0.1]},
            {"pose": {"lowerarm01.L": [0, -90, 0], "head": [10, 0, 0]}, "expression": {"jawOpen": 0.5}},
        ],
    }
    doc.update(changes)
    return doc


def test_json_load_fills_defaults_and_converts_degrees(anny, tmp_path):
    seq = load_sequence(_write(tmp_path / "s.json", _doc()), anny)
    names = anny.spec.joint_names
    assert len(seq) == 2 and seq.fps == 24.0 and seq.body == "anny"
    np.testing.assert_allclose(seq.poses[1, names.index("lowerarm01.L")], [0, -np.pi / 2, 0], atol=1e-6)
    assert np.count_nonzero(seq.poses[0]) == 1
    assert seq.shapes[0, anny.spec.shape_names.index("height")] == pytest.approx(0.8)
    assert seq.shapes[0, 0] == pytest.approx(0.5)  # unnamed phenotypes stay at their default
    np.testing.assert_allclose(seq.translations, [[0, 0, 0.1], [0, 0, 0]])
    jaw = anny.spec.expression_names.index("jawOpen")
    assert seq.expressions[0, jaw] == 0 and seq.expressions[1, jaw] == pytest.approx(0.5)


def test_json_round_trip(anny, tmp_path):
    seq = demo_motion(anny, 12, 30.0)
    save_sequence(tmp_path / "demo.json", seq, anny.spec)
    back = load_sequence(tmp_path / "demo.json", anny)
    np.testing.assert_allclose(back.poses, seq.poses, atol=1e-6)
    np.testing.assert_allclose(back.translations, seq.translations, atol=1e-6)
    np.testing.assert_allclose(back.expressions, seq.expressions, atol=1e-6)
    assert back.shapes is None and back.fps == 30.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"frames": [{"pose": {"lowerarm01.L": [0, 1, 0]}}, {"pose": {"elbow_left": [0, 1, 0]}}]},
            r"frames\[1\]\.pose has unknown joint 'elbow_left'",
        ),
        ({"body_model": "smplx"}, "made for the 'smplx' body model"),
        ({"frames": [{"pose": {"head": [0, float("nan"), 0]}}]}, r"frames\[0\]\.pose\['head'\] contains NaN"),
        ({"fps": 0}, "fps must be a positive number"),
        ({"format": "something-else"}, "not a pose sequence"),
        ({"frames": []}, "frames must be a non-empty list"),
        ({"shape": {"hieght": 0.3}}, "shape has unknown name 'hieght'"),
        ({"frames": [{"pose": {"head": [0, 1]}}]}, r"frames\[0\]\.pose\['head'\] must have 3 numbers"),
    ],
)
def test_json_errors_name_the_file_and_entry(anny, tmp_path, changes, message):
    path = _write(tmp_path / "bad.json", _doc(**changes))
    with pytest.raises(InputError, match=message) as info:
        load_sequence(path, anny)
    assert "bad.json" in str(info.value)


def test_unreadable_or_unknown_files(anny, tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON"):
        load_sequence(tmp_path / "broken.json", anny)
    with pytest.raises(InputError, match="not found"):
        load_sequence(tmp_path / "missing.json", anny)
    (tmp_path / "motion.bvh").write_text("HIERARCHY")
    with pytest.raises(InputError, match="unknown sequence format"):
        load_sequence(tmp_path / "motion.bvh", anny)
    np.savez(tmp_path / "amass.npz", poses=np.zeros((2, 165)), mocap_frame_rate=30.0)
    with pytest.raises(InputError, match="use them with the smplx body"):
        load_sequence(tmp_path / "amass.npz", anny)


def test_params_at_interpolates_and_takes_the_rest_from_base(anny):
    spec = anny.spec
    poses = np.zeros((2, spec.num_joints, 3), np.float32)
    poses[1, 5] = [0.0, 1.2, 0.0]
    poses[1, 7] = [0.3, 0.0, -0.4]
    seq = PoseSequence("anny", 10.0, poses, translations=np.array([[0, 0, 0], [1, 0, 0]], np.float32))
    base = anny.default_params().replace(shape=np.full(6, 0.2), expression=np.full(52, 0.1))
    mid = seq.params_at(0.05, base)
    np.testing.assert_allclose(mid.pose[5], [0, 0.6, 0], atol=1e-6)
    np.testing.assert_allclose(mid.pose[7], [0.15, 0, -0.2], atol=1e-6)  # same axis: half the angle
    np.testing.assert_allclose(mid.translation, [0.5, 0, 0])
    np.testing.assert_array_equal(mid.shape, base.shape)
    np.testing.assert_array_equal(mid.expression, base.expression)
    np.testing.assert_array_equal(seq.params_at(99.0, base).pose, poses[1])  # clamped
    np.testing.assert_array_equal(seq.frame_params(0, base).pose, poses[0])
    assert seq.duration_s == pytest.approx(0.1)


def test_demo_motion_is_smooth_and_loops(anny):
    n = 90
    seq = demo_motion(anny, n, 30.0)
    assert len(seq) == n and seq.shapes is None and seq.expressions is not None
    rot = axis_angle_to_matrix(seq.poses.astype(np.float64))
    step = np.linalg.norm(matrix_to_axis_angle(np.swapaxes(rot[1:], -1, -2) @ rot[:-1]), axis=-1).max(1)
    wrap = np.linalg.norm(matrix_to_axis_angle(np.swapaxes(rot[0], -1, -2) @ rot[-1]), axis=-1).max()
    assert step.max() < 0.2 and wrap < 0.2  # radians per frame, including last -> first
    assert np.degrees(step.max()) > 1  # it moves
    yaw = [np.degrees(np.arctan2(r[0, 0, 2], r[0, 2, 2])) % 360 for r in rot[:: n // 4]]
    assert np.ptp(yaw) > 180  # one full turn over the loop
    mesh = anny.forward(seq.params_at(0.5, anny.default_params()))
    assert mesh.vertices[:, 1].min() > -0.05
    with pytest.raises(InputError):
        demo_motion(anny, 1, 30.0)


@pytest.mark.smplx
def test_amass_npz_matches_smplx_rotated_into_y_up(tmp_path):
    """A Z-up AMASS-style motion: our output equals smplx's output rotated into our Y-up frame."""
    import contextlib
    import io

    import smplx
    import torch
    from smplx_fixture import write_synthetic_smplx

    from smplpix_rt.body.smplx_body import SmplxBody

    model_file = write_synthetic_smplx(tmp_path)
    body = SmplxBody(tmp_path, corrective_precision="int16")  # a frame check: the finer correctives
    with contextlib.redirect_stdout(io.StringIO()):
        reference = smplx.SMPLX(str(model_file), use_pca=False, flat_hand_mean=True)
    rng = np.random.default_rng(0)
    n = 3
    poses = rng.normal(size=(n, 165)) * 0.3
    trans = rng.normal(size=(n, 3))
    betas = rng.normal(size=16)
    np.savez(tmp_path / "motion.npz", poses=poses, trans=trans, betas=betas, mocap_frame_rate=60.0, gender="neutral")
    seq = load_sequence(tmp_path / "motion.npz", body)
    assert len(seq) == n and seq.fps == 60.0
    for k in range(n):
        p = torch.from_numpy(poses[k : k + 1].astype(np.float32))
        with torch.no_grad():
            out = reference(
                betas=torch.from_numpy(betas[None, :10].astype(np.float32)),
                global_orient=p[:, :3],
                body_pose=p[:, 3:66],
                jaw_pose=p[:, 66:69],
                leye_pose=p[:, 69:72],
                reye_pose=p[:, 72:75],
                left_hand_pose=p[:, 75:120],
                right_hand_pose=p[:, 120:165],
                transl=torch.from_numpy(trans[k : k + 1].astype(np.float32)),
            )
        expected = out.vertices[0].numpy() @ Z_UP_TO_Y_UP.T
        ours = body.forward(seq.frame_params(k, body.default_params())).vertices
        np.testing.assert_allclose(ours, expected, atol=1e-4)


@pytest.mark.smplx
def test_amass_layouts_and_errors(tmp_path):
    from smplx_fixture import write_synthetic_smplx

    from smplpix_rt.body.smplx_body import SmplxBody

    body = SmplxBody(write_synthetic_smplx(tmp_path / "model"))
    smplh = np.zeros((4, 156))
    smplh[:, 66:69] = 0.5  # first left-hand joint in SMPL-H order
    np.savez(tmp_path / "smplh.npz", poses=smplh, mocap_framerate=120.0)
    seq = load_sequence(tmp_path / "smplh.npz", body, up_axis="y")
    np.testing.assert_allclose(seq.poses[0, body.spec.joint_names.index("left_index1")], [0.5, 0.5, 0.5])
    assert np.all(seq.poses[:, 22:25] == 0)  # jaw and eyes
    bad = np.zeros((2, 165))
    bad[1, 7] = np.nan
    np.savez(tmp_path / "nan.npz", poses=bad, mocap_frame_rate=30.0)
    with pytest.raises(InputError, match=r"nan\.npz: poses contains NaN"):
        load_sequence(tmp_path / "nan.npz", body)
    np.savez(tmp_path / "norate.npz", poses=np.zeros((2, 165)))
    with pytest.raises(InputError, match="no frame rate"):
        load_sequence(tmp_path / "norate.npz", body)
    assert load_sequence(tmp_path / "norate.npz", body, fps=25.0).fps == 25.0
    np.savez(tmp_path / "odd.npz", poses=np.zeros((2, 100)), mocap_frame_rate=30.0)
    with pytest.raises(InputError, match=r"poses must have shape \(N, 165\)"):
        load_sequence(tmp_path / "odd.npz", body)
