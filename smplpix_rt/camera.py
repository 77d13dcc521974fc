"""Cameras: pinhole intrinsics + extrinsics in the OpenCV convention, and an orbit controller.

Convention (the same as OpenCV, so dataset cameras map exactly):
  * camera frame: +X right, +Y down, +Z forward (looking direction);
  * ``world_to_camera``: x_cam = R @ x_world + t;
  * pixels: u = fx * X / Z + cx, v = fy * Y / Z + cy, where pixel (i, j) (row i, column j) has its
    centre at (u, v) = (j, i). Row 0 is the top of the image.

The rasterizer turns a :class:`Camera` into an OpenGL clip transform with :meth:`Camera.gl_mvp`,
which also makes framebuffer row 0 the image's top row, so read-backs need no flip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smplpix_rt.errors import InputError


@dataclass(frozen=True)
class Camera:
    """A pinhole camera.

    Attributes:
        width, height: image size in pixels.
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels (OpenCV convention, see module docs).
        rotation: (3, 3) float64 world-to-camera rotation R.
        translation: (3,) float64 world-to-camera translation t.
        near, far: clipping distances in metres (only used by the rasterizer).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    near: float = 0.05
    far: float = 100.0

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise InputError(f"camera image size must be positive, got {self.width}x{self.height}")
        values = [self.fx, self.fy, self.cx, self.cy, self.near, self.far]
        if not all(math.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise InputError(f"camera intrinsics must be finite with positive focal lengths, got {values[:4]}")
        if not 0 < self.near < self.far:
            raise InputError(f"camera needs 0 < near < far, got near={self.near}, far={self.far}")
        r = np.asarray(self.rotation, np.float64)
        t = np.asarray(self.translation, np.float64)
        if r.shape != (3, 3) or t.shape != (3,) or not (np.isfinite(r).all() and np.isfinite(t).all()):
            raise InputError("camera rotation must be a finite (3, 3) matrix and translation a finite (3,) vector")
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "translation", t)

    @staticmethod
    def from_fov(width: int, height: int, fov_y_deg: float, rotation=None, translation=None) -> Camera:
        """A centred camera with the given vertical field of view (square pixels)."""
        if not 1.0 <= fov_y_deg <= 170.0:
            raise InputError(f"field of view must be within [1, 170] degrees, got {fov_y_deg}")
        f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
        return Camera(
            width,
            height,
            f,
            f,
            (width - 1) / 2,
            (height - 1) / 2,
            np.eye(3) if rotation is None else rotation,
            np.zeros(3) if translation is None else translation,
        )

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre in the world frame."""
        return -self.rotation.T @ self.translation

    def resized(self, width: int, height: int) -> Camera:
        """The same view at another image size (intrinsics scaled with the image)."""
        sx, sy = width / self.width, height / self.height
        return Camera(
            width,
            height,
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            self.rotation,
            self.translation,
            self.near,
            self.far,
        )

    def projection(self) -> np.ndarray:
        """(4, 4) float64 map from OpenCV camera coordinates to OpenGL clip coordinates.

        y_ndc grows with the pixel row, so framebuffer row 0 holds image row 0 (the top).
        """
        w, h, n, f = self.width, self.height, self.near, self.far
        p = np.zeros((4, 4))
        p[0, 0] = 2 * self.fx / w
        p[0, 2] = 2 * (self.cx + 0.5) / w - 1
        p[1, 1] = 2 * self.fy / h
        p[1, 2] = 2 * (self.cy + 0.5) / h - 1
        p[2, 2] = (f + n) / (f - n)
        p[2, 3] = -2 * f * n / (f - n)
        p[3, 2] = 1.0
        return p

    def view(self) -> np.ndarray:
        """(4, 4) float64 world-to-camera transform."""
        v = np.eye(4)
        v[:3, :3] = self.rotation
        v[:3, 3] = self.translation
        return v

    def gl_mvp(self) -> np.ndarray:
        """(4, 4) float32 world-to-clip transform for the shaders (row-major)."""
        return (self.projection() @ self.view()).astype(np.float32)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) of world points (N, 3)."""
        cam = np.asarray(points, np.float64) @ self.rotation.T + self.translation
        return np.stack([self.fx * cam[:, 0] / cam[:, 2] + self.cx, self.fy * cam[:, 1] / cam[:, 2] + self.cy], 1)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera (R, t) of a camera at ``eye`` looking at ``target`` (OpenCV axes)."""
    # Plain float arithmetic on 3-vectors: the viewer builds a camera on its UI thread every frame,
    # and a few dozen tiny NumPy calls there each wait for the GIL behind the render threads.
    e, g, u = (_vec3(a) for a in (eye, target, up))
    forward = _unit(_sub(g, e), "camera eye and target coincide")
    right = _cross(forward, u)
    if _norm(right) < 1e-9:  # looking straight up or down: pick any horizontal right
        right = _cross(forward, (0.0, 0.0, 1.0))
    right = _unit(right, "camera eye and target coincide")
    down = _cross(forward, right)
    rotation = np.array([right, down, forward], np.float64)
    translation = np.array([-sum(r * x for r, x in zip(row, e, strict=True)) for row in (right, down, forward)])
    return rotation, translation


def _vec3(a) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in np.asarray(a, np.float64).reshape(3))
    return x, y, z


def _sub(a, b) -> tuple[float, float, float]:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]


def _cross(a, b) -> tuple[float, float, float]:
    return a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]


def _norm(a) -> float:
    return math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])


def _unit(a, error: str) -> tuple[float, float, float]:
    length = _norm(a)
    if length < 1e-9:
        raise InputError(error)
    return a[0] / length, a[1] / length, a[2] / length


@dataclass(frozen=True)
class OrbitCamera:
    """An orbit around a target: the viewer's and the demo renders' camera controller.

    yaw 0 looks at the body's front (camera on +Z); positive yaw moves the camera towards +X;
    positive pitch raises it. ``pan`` shifts the target in the image plane (metres, x right, y up).
    """

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    distance: float = 2.6
    fov_y_deg: float = 30.0
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pan: tuple[float, float] = (0.0, 0.0)

    def camera(self, width: int, height: int) -> Camera:
        """The :class:`Camera` for an image of ``width`` x ``height`` pixels."""
        values = (self.yaw_deg, self.pitch_deg, self.distance, self.fov_y_deg, *self.target, *self.pan)
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"orbit camera parameters must be finite, got {values}")
        if self.distance <= 0:
            raise InputError(f"orbit camera distance must be positive, got {self.distance}")
        yaw, pitch = math.radians(self.yaw_deg), math.radians(max(-89.0, min(89.0, self.pitch_deg)))
        offset = (math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch))
        target = _vec3(self.target)
        eye = tuple(t + self.distance * o for t, o in zip(target, offset, strict=True))
        rotation, _ = look_at(eye, target)
        right, down = rotation[0].tolist(), rotation[1].tolist()
        # The pan moves the camera and its target together, parallel to the image plane.
        shift = tuple(r * self.pan[0] - d * self.pan[1] for r, d in zip(right, down, strict=True))
        target = tuple(t + s for t, s in zip(target, shift, strict=True))
        eye = tuple(e + s for e, s in zip(eye, shift, strict=True))
        rotation, translation = look_at(eye, target)
        return Camera.from_fov(width, height, self.fov_y_deg, rotation, translation)


def framing_orbit(vertices: np.ndarray, fov_y_deg: float = 30.0, margin: float = 1.15, **orbit) -> OrbitCamera:
    """An :class:`OrbitCamera` centred on a mesh that fits its full height (and width) in view.

    Args:
        vertices: (V, 3) world positions, e.g. of the rest-pose body.
        fov_y_deg: vertical field of view.
        margin: extra room around the body (1.0 = touching the frame).
        **orbit: further OrbitCamera fields (yaw_deg, pitch_deg, pan).
    """
    lo, hi = vertices.min(0), vertices.max(0)
    centre = (lo + hi) / 2
    extent = max(hi[1] - lo[1], hi[0] - lo[0], 1e-3) * margin
    distance = extent / 2 / math.tan(math.radians(fov_y_deg) / 2) + (hi[2] - lo[2]) / 2
    return OrbitCamera(distance=float(distance), fov_y_deg=fov_y_deg, target=tuple(float(c) for c in centre), **orbit)
