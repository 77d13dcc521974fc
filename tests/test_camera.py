"""Camera conventions: OpenCV projection, GL clip mapping, orbit and framing."""

import numpy as np
import pytest

from smplpix_rt.camera import Camera, OrbitCamera, framing_orbit, look_at
from smplpix_rt.errors import InputError


def _clip_to_pixel(camera: Camera, point: np.ndarray) -> np.ndarray:
    clip = camera.gl_mvp().astype(np.float64) @ np.append(point, 1.0)
    ndc = clip[:3] / clip[3]
    # GL: x_ndc -1 is the left edge of column 0; y_ndc -1 is framebuffer row 0 = image top (see camera docs).
    return np.array([(ndc[0] + 1) / 2 * camera.width - 0.5, (ndc[1] + 1) / 2 * camera.height - 0.5])


def test_gl_clip_transform_lands_on_the_opencv_pixel():
    rotation, translation = look_at((0.4, 1.2, 2.5), (0.0, 0.9, 0.0))
    camera = Camera(320, 240, 300.0, 310.0, 150.0, 130.0, rotation, translation)
    points = np.array([[0.0, 0.9, 0.0], [0.3, 1.5, -0.2], [-0.5, 0.1, 0.4]])
    expected = camera.project(points)
    for point, pixel in zip(points, expected, strict=True):
        np.testing.assert_allclose(_clip_to_pixel(camera, point), pixel, atol=1e-3)


def test_orbit_front_view_puts_the_body_left_on_the_image_right():
    camera = OrbitCamera(target=(0, 1, 0), distance=3).camera(200, 200)
    left_hand, head = np.array([[0.5, 1.0, 0.0]]), np.array([[0.0, 1.6, 0.0]])
    assert camera.project(left_hand)[0, 0] > 100  # the body's left (+X) faces the camera's right
    assert camera.project(head)[0, 1] < 100  # up is towards row 0
    np.testing.assert_allclose(camera.position, [0, 1, 3], atol=1e-9)


def test_orbit_yaw_moves_camera_towards_positive_x():
    camera = OrbitCamera(yaw_deg=90, distance=2).camera(64, 64)
    np.testing.assert_allclose(camera.position, [2, 0, 0], atol=1e-9)


def test_pan_shifts_target_in_image_plane():
    still = OrbitCamera(target=(0, 1, 0), distance=3).camera(100, 100)
    panned = OrbitCamera(target=(0, 1, 0), distance=3, pan=(0.2, 0.0)).camera(100, 100)
    origin = np.array([[0.0, 1.0, 0.0]])
    assert panned.project(origin)[0, 0] < still.project(origin)[0, 0]


def test_resized_camera_keeps_the_view():
    camera = OrbitCamera(target=(0, 1, 0)).camera(128, 128)
    big = camera.resized(256, 256)
    point = np.array([[0.2, 1.3, 0.1]])
    np.testing.assert_allclose((camera.project(point) + 0.5) * 2, big.project(point) + 0.5, atol=1e-6)


def test_framing_fits_the_mesh():
    vertices = np.random.default_rng(0).uniform([-0.3, 0.0, -0.2], [0.3, 1.7, 0.2], size=(500, 3))
    camera = framing_orbit(vertices).camera(256, 256)
    pixels = camera.project(vertices)
    assert pixels.min() > 0 and pixels.max() < 255
    assert pixels[:, 1].max() - pixels[:, 1].min() > 0.7 * 256  # and fills most of the height


@pytest.mark.parametrize(
    "kwargs",
    [dict(fx=-1.0), dict(cx=float("nan")), dict(width=0), dict(near=1.0, far=0.5)],
)
def test_invalid_intrinsics_are_rejected(kwargs):
    values = dict(width=64, height=64, fx=50.0, fy=50.0, cx=32.0, cy=32.0)
    values.update(kwargs)
    with pytest.raises(InputError):
        Camera(**values)


def test_orbit_rejects_non_finite_values():
    with pytest.raises(InputError):
        OrbitCamera(yaw_deg=float("inf")).camera(64, 64)
