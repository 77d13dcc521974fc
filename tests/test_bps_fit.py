"""fit-scan: shape and global pose from scans, on a tiny synthetic body and on the shipped Anny regressor."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from smplpix_rt.body.base import BodyModel
from smplpix_rt.bps.fit_data import ScanSampling, random_body, rotation_matrix, scan_points
from smplpix_rt.bps.fit_model import load_regressor, save_regressor
from smplpix_rt.bps.fit_scan import apply_rigid, fit_scan, kabsch, scan_to_world
from smplpix_rt.bps.fit_train import FitTrainConfig, evaluate_fit, train_fit_regressor
from smplpix_rt.bps.scan_io import Scan, save_ply
from smplpix_rt.contracts import BodySpec, Mesh, MeshTopology
from smplpix_rt.errors import InputError, ModelFileError


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Small training runs here are fastest single-threaded, and immune to other processes on the cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _icosphere(subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
    t = (1 + 5**0.5) / 2
    v = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t]]
    v += [[t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6]]
    f += [[7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10]]
    f += [[8, 6, 7], [9, 8, 1]]
    vertices, faces = [np.array(p, float) / np.linalg.norm(p) for p in v], np.array(f)
    for _ in range(subdivisions):
        midpoints: dict[tuple[int, int], int] = {}
        new_faces = []
        for tri in faces:
            mids = []
            for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])):
                key = (min(a, b), max(a, b))
                if key not in midpoints:
                    m = vertices[a] + vertices[b]
                    vertices.append(m / np.linalg.norm(m))
                    midpoints[key] = len(vertices) - 1
                mids.append(midpoints[key])
            ab, bc, ca = mids
            new_faces += [[tri[0], ab, ca], [tri[1], bc, ab], [tri[2], ca, bc], [ab, bc, ca]]
        faces = np.array(new_faces)
    return np.array(vertices), faces


class BlobBody(BodyModel):
    """An egg with a nose and one arm: two shape parameters (width, height), a root joint and an unused joint."""

    def __init__(self):
        self.spec = BodySpec(
            name="blob",
            version="1",
            joint_names=("root", "arm"),
            joint_parents=np.array([-1, 0]),
            shape_names=("width", "height"),
            shape_ranges=np.array([[0, 1], [0, 1]], np.float32),
            shape_defaults=np.array([0.5, 0.5], np.float32),
            expression_names=(),
            expression_ranges=np.zeros((0, 2), np.float32),
            pose_limits_deg=np.tile(np.array([-180, 180], np.float32), (2, 3, 1)),
        )
        self._sphere, faces = _icosphere(3)
        self.topology = MeshTopology(faces=faces.astype(np.int32), rest_coords=self._sphere.astype(np.float32))

    def forward(self, params):
        p = self.validate(params)
        s = self._sphere
        width, height = 0.2 + 0.2 * p.shape[0], 0.5 + 0.5 * p.shape[1]
        v = s * [width, height, 0.15]
        v[:, 0] *= 1 + 0.4 * s[:, 1]  # wider at the top
        v[:, 2] += 0.2 * np.exp(-(s[:, 0] ** 2 + (s[:, 1] - 0.4) ** 2) / 0.05) * (s[:, 2] > 0)  # a nose, +Z
        v[:, 0] += 0.2 * np.exp(-(s[:, 2] ** 2 + s[:, 1] ** 2) / 0.05) * (s[:, 0] > 0)  # an arm on the left, +X
        v[:, 1] += height  # standing on y = 0
        pivot = np.array([0.0, height, 0.0])
        v = (v - pivot) @ rotation_matrix(p.pose[0]).T + pivot + p.translation
        tri = v[self.topology.faces]
        normals = np.zeros_like(v)
        for k in range(3):  # area-weighted face normals summed at the vertices
            np.add.at(normals, self.topology.faces[:, k], np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        return Mesh(v.astype(np.float32), normals.astype(np.float32), self.topology)


BLOB_CONFIG = FitTrainConfig(
    n_shapes=100,
    poses_per_shape=2,
    scans_per_pose=2,
    n_basis=128,
    pose_hidden=128,
    shape_hidden=128,
    epochs=30,
    batch_size=64,
    eval_bodies=2,
    sampling=ScanSampling(n_points=512, pose_fraction=0.0),
)


@pytest.fixture(scope="module")
def blob_regressor():
    body = BlobBody()
    return body, train_fit_regressor(body, BLOB_CONFIG, progress=False)


def test_regressor_recovers_held_out_blob_shapes(blob_regressor):
    body, regressor = blob_regressor
    rng = np.random.default_rng(3)
    neutral = body.forward(body.default_params()).vertices

    def distance_to_neutral(shape):
        vertices = body.forward(body.default_params().replace(shape=shape)).vertices
        return np.linalg.norm(vertices - neutral, axis=1).mean()

    guess_the_mean = 1000 * np.mean([distance_to_neutral(rng.uniform(0, 1, 2)) for _ in range(20)])
    regression = evaluate_fit(
        body, regressor, n_bodies=6, seed=7, icp_iterations=0, refine_iterations=0, progress=False
    )
    assert regression["all"]["shape_error_mm"] < 0.5 * guess_the_mean, (regression, guess_the_mean)
    full = evaluate_fit(body, regressor, n_bodies=6, seed=7, progress=False)
    assert full["all"]["vertex_error_mm"] < 10, full
    assert full["all"]["root_error_deg"] < 5, full
    assert full["full"]["scan_distance_mm"] < 5, full
    assert regressor.report["held_out"]["bodies"] == BLOB_CONFIG.eval_bodies


def test_fit_finds_shape_rotation_and_translation(blob_regressor):
    body, regressor = blob_regressor
    rng = np.random.default_rng(11)
    truth = body.default_params().replace(shape=[0.2, 0.8], translation=[1.0, 0.0, -0.5])
    truth = truth.replace(pose=np.array([[0, 2.5, 0], [0, 0, 0]], np.float32))
    points = scan_points(body.forward(truth), rng, BLOB_CONFIG.sampling, partial=False)
    fit = fit_scan(Scan(points), body, regressor)
    np.testing.assert_allclose(fit.params.shape, truth.shape, atol=0.15)
    np.testing.assert_allclose(fit.params.translation, truth.translation, atol=0.05)
    relative = rotation_matrix(fit.params.pose[0]).T @ rotation_matrix(truth.pose[0])
    assert np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1, 1))) < 10


def test_regressor_file_round_trip_and_body_check(tmp_path, blob_regressor):
    body, regressor = blob_regressor
    save_regressor(tmp_path / "blob.safetensors", regressor)
    loaded = load_regressor(tmp_path / "blob.safetensors", body)
    points = scan_points(body.forward(body.default_params()), np.random.default_rng(0), BLOB_CONFIG.sampling, False)
    for a, b in zip(regressor.predict_pose(points), loaded.predict_pose(points), strict=True):
        np.testing.assert_allclose(a, b, atol=2e-2)  # float16 weights
    assert loaded.report == json.loads(json.dumps(regressor.report))

    other = BlobBody()
    object.__setattr__(other, "spec", replace(other.spec, name="other"))
    with pytest.raises(ModelFileError, match="trained for the 'blob' body"):
        load_regressor(tmp_path / "blob.safetensors", other)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_regressor(tmp_path / "junk.safetensors")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_regressor(tmp_path / "missing.safetensors")


def test_rigid_helpers_are_exact():
    body = BlobBody()
    params = random_body(body, np.random.default_rng(2), ScanSampling(pose_fraction=0.0))
    vertices = body.forward(params).vertices
    rotation, shift = rotation_matrix([0.1, -0.4, 0.2]), np.array([0.3, -0.1, 0.7])
    moved = apply_rigid(body, params, vertices, rotation, shift)
    np.testing.assert_allclose(body.forward(moved).vertices, vertices @ rotation.T + shift, atol=1e-5)
    r, s = kabsch(vertices, vertices @ rotation.T + shift)
    np.testing.assert_allclose(r, rotation, atol=1e-5)
    np.testing.assert_allclose(s, shift, atol=1e-5)


def test_scan_units_and_axes():
    points = np.array([[0, 0, 0], [100, 1700, 300]], np.float32)
    np.testing.assert_allclose(scan_to_world(points, "mm"), points / 1000, rtol=1e-6)
    z_up = np.array([[0, 0, 0], [0.1, -0.3, 1.7]], np.float32)  # Z up, facing -Y
    np.testing.assert_allclose(scan_to_world(z_up, up="z"), [[0, 0, 0], [0.1, 1.7, 0.3]], atol=1e-6)
    with pytest.raises(InputError, match="pass --units mm"):
        scan_to_world(points)
    with pytest.raises(InputError, match="units"):
        scan_to_world(points, "inch")


def test_degenerate_scan_is_rejected(blob_regressor):
    body, regressor = blob_regressor
    with pytest.raises(InputError, match="degenerate"):
        fit_scan(Scan(np.ones((100, 3), np.float32)), body, regressor)


@pytest.fixture(scope="module")
def anny():
    from smplpix_rt.bps.fit_scan import default_regressor_path

    if not default_regressor_path("anny").is_file():
        pytest.fail("models/bps_fit_anny.safetensors is missing: make it with 'smplpix bps train-fit'")
    from smplpix_rt.body import load_body_model

    return load_body_model("anny")


def test_fit_scan_command_on_an_anny_scan(tmp_path, anny, capsys):
    """A Z-up millimetre scan of a known Anny body: the command writes a state the renderer loads."""
    from smplpix_rt.cli.main import main
    from smplpix_rt.state import load_state

    truth = anny.default_params().replace(shape=[0.3, 0.6, 0.5, 0.7, 0.8, 0.4], translation=[0.2, 0.0, -0.1])
    pose = truth.pose.copy()
    pose[0] = [0.0, 0.8, 0.0]
    truth = truth.replace(pose=pose)
    mesh = anny.forward(truth)
    y_up = mesh.vertices.astype(np.float64)
    z_up_mm = np.stack([y_up[:, 0], -y_up[:, 2], y_up[:, 1]], 1) * 1000  # what a Z-up scanner in mm would write
    save_ply(tmp_path / "scan.ply", z_up_mm, mesh.topology.faces)

    out = tmp_path / "params.json"
    assert main(["fit-scan", str(tmp_path / "scan.ply"), "--out", str(out), "--units", "mm", "--up", "z"]) == 0
    assert "mean scan-to-surface distance" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["body_model"] == "anny" and set(data["pose"]) <= {"root"} and len(data["translation"]) == 3
    fitted = load_state(out, anny).params
    error_mm = np.linalg.norm(anny.forward(fitted).vertices - mesh.vertices, axis=1).mean() * 1000
    assert error_mm < 30, error_mm

    assert main(["fit-scan", str(tmp_path / "scan.ply"), "--out", str(out)]) == 1  # millimetres read as metres
    assert "pass --units mm" in capsys.readouterr().err
    assert main(["fit-scan", str(tmp_path / "scan.stl"), "--out", str(out)]) == 1
    assert "use a .ply or .obj file" in capsys.readouterr().err
