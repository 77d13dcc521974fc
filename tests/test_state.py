"""The avatar state file: round trip, strict names, bad values."""

import json

import numpy as np
import pytest

from smplpix_rt.body.base import BodyModel
from smplpix_rt.camera import OrbitCamera
from smplpix_rt.contracts import BodySpec, MeshTopology
from smplpix_rt.errors import InputError
from smplpix_rt.state import AvatarState, load_state, save_state


class TinyBody(BodyModel):
    """A three-joint body used to test parameter handling without real body data."""

    def __init__(self):
        self.spec = BodySpec(
            name="tiny",
            version="1",
            joint_names=("root", "arm.L", "arm.R"),
            joint_parents=np.array([-1, 0, 0]),
            shape_names=("height", "weight"),
            shape_ranges=np.array([[0, 1], [0, 1]], np.float32),
            shape_defaults=np.array([0.5, 0.5], np.float32),
            expression_names=("smile",),
            expression_ranges=np.array([[0, 1]], np.float32),
            pose_limits_deg=np.tile(np.array([-180, 180], np.float32), (3, 3, 1)),
        )
        self.topology = MeshTopology(faces=np.zeros((0, 3), np.int32), rest_coords=np.zeros((0, 3), np.float32))

    def forward(self, params):
        raise NotImplementedError


def test_round_trip(tmp_path):
    body = TinyBody()
    params = body.default_params().replace(
        pose=np.radians([[0, 30, 0], [10, 0, -45], [0, 0, 0]]), shape=[0.8, 0.5], expression=[0.25]
    )
    state = AvatarState(params, OrbitCamera(yaw_deg=20, distance=3.0, target=(0, 0.9, 0)))
    path = tmp_path / "state.json"
    save_state(path, body, state)
    data = json.loads(path.read_text())
    assert set(data["pose"]) == {"root", "arm.L"}  # only what differs from neutral
    assert data["shape"] == {"height": pytest.approx(0.8)}
    loaded = load_state(path, body)
    np.testing.assert_allclose(loaded.params.pose, params.pose, atol=1e-5)
    np.testing.assert_allclose(loaded.params.shape, params.shape)
    assert loaded.camera == state.camera


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"body_model": "tiny", "pose": {"arm.l": [0, 0, 1]}}', "unknown joint name 'arm.l'.*arm.L"),
        ('{"body_model": "smplx"}', "made for the 'smplx' body model"),
        ('{"body_model": "tiny", "shape": {"height": NaN}}', "finite"),
        ('{"body_model": "tiny", "pose": {"root": [1, 2]}}', "3 finite numbers"),
        ('{"body_model": "tiny", "camera": {"zoom": 2}}', "unknown camera keys"),
        ('{"body_model": "tiny", "camera": {"distance": -1}}', "distance must be > 0"),
        ("[1, 2]", "JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_state_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_state(path, TinyBody())


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_state(tmp_path / "nope.json", TinyBody())


def test_out_of_range_shape_is_clipped(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"body_model": "tiny", "shape": {"height": 7}}')
    assert load_state(path, TinyBody()).params.shape[0] == 1.0
