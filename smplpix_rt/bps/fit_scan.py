"""Fitting a body model's shape and global pose to a scan.

Steps: read the scan (PLY/OBJ mesh or point cloud), convert it to metres with +Y up, draw the number
of points the regressor was trained with, and let the regressor (:mod:`smplpix_rt.bps.fit_model`)
estimate the root rotation, then the shape and translation in that orientation. A few rigid ICP
steps then align the body to the scan: each scan point is matched to its nearest body vertex, the
worst matches are dropped and the best rotation and translation (Kabsch) are folded into the root
rotation and the translation. The shape is read again in the refined orientation and aligned once more.
Last, a few Levenberg-Marquardt steps adjust shape, rotation and translation together so that the
body's surface meets the scan points (point-to-plane distances; shape derivatives by finite
differences, so any body model works). The limbs
keep the body model's neutral pose and the expression its neutral value.

Result: a :class:`~smplpix_rt.contracts.BodyParams` and a state file (:mod:`smplpix_rt.state`)::

    {"body_model": "anny", "shape": {"height": 0.62, ...}, "expression": {},
     "pose": {"root": [x, y, z]}, "translation": [x, y, z], "camera": {...}}

(root axis-angle in degrees; shape values equal to the neutral value are left out), which
``smplpix render --state`` and the viewer load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplpix_rt.body.base import BodyModel
from smplpix_rt.bps.fit_data import matrix_to_axis_angle, rotation_matrix
from smplpix_rt.bps.fit_model import FitRegressor, check_compatible, load_regressor
from smplpix_rt.bps.scan_io import Scan, load_scan, sample_surface
from smplpix_rt.bps.search import nearest_points
from smplpix_rt.contracts import BodyParams, Mesh
from smplpix_rt.errors import InputError, ModelFileError

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
UP_AXES = ("y", "z")
ICP_KEEP = 0.9  # fraction of the closest matches used by each ICP step


@dataclass(frozen=True, eq=False)
class ScanFit:
    """A fitted body.

    Attributes:
        params: body parameters (shape, root rotation, translation; limbs neutral).
        mesh: the fitted body's mesh.
        scan_distance_mm: mean distance from the scan points to the body surface, mm (see
            :func:`scan_distance`).
    """

    params: BodyParams
    mesh: Mesh
    scan_distance_mm: float


def default_regressor_path(body_model: str) -> Path:
    """The shipped regressor of a body model: ``models/bps_fit_<name>.safetensors``."""
    from smplpix_rt.resources import models_dir

    name = f"bps_fit_{body_model}.safetensors"
    try:
        return models_dir() / name
    except FileNotFoundError:
        return Path(__file__).resolve().parents[2] / "models" / name


def load_default_regressor(body: BodyModel) -> FitRegressor:
    """The shipped regressor for ``body``; raises :class:`ModelFileError` naming how to make one."""
    path = default_regressor_path(body.spec.name)
    if not path.is_file():
        raise ModelFileError(
            f"no scan-fitting regressor for the {body.spec.name!r} body ({path} is missing); train one with "
            f"'smplpix bps train-fit --body-model {body.spec.name} --out {path}' or pass --regressor PATH"
        )
    return load_regressor(path, body)


def scan_to_world(points: np.ndarray, units: str = "m", up: str = "y") -> np.ndarray:
    """(N, 3) scan points → metres in the project's world frame (+Y up).

    Args:
        points: (N, 3) points in the scan's units.
        units: ``"m"``, ``"cm"`` or ``"mm"``.
        up: the scan's up axis: ``"y"`` (kept) or ``"z"`` (rotated by -90 degrees about X, so that a
            Z-up scan facing -Y ends up Y-up facing +Z).

    Raises:
        InputError: unknown units or axis, or a body size that does not fit the units.
    """
    if units not in UNITS:
        raise InputError(f"unknown scan units {units!r}; use one of {', '.join(UNITS)}")
    if up not in UP_AXES:
        raise InputError(f"unknown up axis {up!r}; use 'y' or 'z'")
    p = np.asarray(points, np.float64) * UNITS[units]
    if up == "z":
        p = np.stack([p[:, 0], p[:, 2], -p[:, 1]], 1)
    extent = float((p.max(0) - p.min(0)).max())
    if not 0.3 <= extent <= 3.0:
        guess = next((u for u, s in UNITS.items() if 0.3 <= extent / UNITS[units] * s <= 3.0), None)
        hint = f"; it looks like the scan is in {guess}: pass --units {guess}" if guess else ""
        raise InputError(f"the scan spans {extent:.3g} m, not the size of a body (0.3 to 3 m){hint}")
    return p.astype(np.float32)


def fit_scan_file(
    path: str | Path,
    body: BodyModel,
    regressor: FitRegressor | None = None,
    units: str = "m",
    up: str = "y",
    icp_iterations: int = 10,
    refine_iterations: int = 8,
    seed: int = 0,
) -> ScanFit:
    """Read a scan file and fit ``body`` to it (see the module docs)."""
    scan = load_scan(path)
    points = scan_to_world(scan.points, units, up)
    return fit_scan(Scan(points, scan.faces), body, regressor, icp_iterations, refine_iterations, seed)


def fit_scan(
    scan: Scan,
    body: BodyModel,
    regressor: FitRegressor | None = None,
    icp_iterations: int = 10,
    refine_iterations: int = 8,
    seed: int = 0,
) -> ScanFit:
    """Fit ``body`` to a scan already in metres with +Y up.

    Args:
        scan: the scan (points in metres, +Y up; faces optional).
        body: the body model to fit.
        regressor: trained for ``body``; default: the shipped one (``models/bps_fit_<name>.safetensors``).
        icp_iterations: rigid alignment steps after each regression (0: none).
        refine_iterations: at most this many Levenberg-Marquardt steps on shape and rigid pose at the
            end (0: regression and rigid alignment only).
        seed: seed of the point sampling.

    Raises:
        ModelFileError: the regressor was trained for another body model.
        InputError: a degenerate scan (all points in one place).
    """
    regressor = load_default_regressor(body) if regressor is None else regressor
    check_compatible(regressor, body)
    rng = np.random.default_rng(seed)
    points = sample_surface(scan, regressor.scan_points, rng)
    if float(np.ptp(points, axis=0).max()) <= 0:
        raise InputError("the scan is degenerate: all its points lie in one place")
    root, _ = regressor.predict_pose(points)
    params = body.default_params()
    for _ in range(2):  # read the shape in the current orientation, then align the body rigidly
        shape, translation = regressor.predict_shape(points, root)
        pose = params.pose.copy()
        pose[0] = root
        params = params.replace(shape=shape, pose=pose, translation=translation)
        params = refine_rigid(body, params, points, icp_iterations)
        root = params.pose[0]
    params = refine_shape(body, params, points, refine_iterations)
    mesh = body.forward(params)
    return ScanFit(params, mesh, scan_distance(mesh, points) * 1000.0)


def scan_distance(mesh: Mesh, points: np.ndarray) -> float:
    """Mean distance (m) from (N, 3) scan points to the body surface, each measured along the normal of
    its nearest body vertex (the tangent plane there)."""
    nearest = nearest_points(mesh.vertices, points)
    offsets = points.astype(np.float64) - mesh.vertices[nearest.indices]
    return float(np.mean(np.abs(np.sum(offsets * mesh.normals[nearest.indices], 1))))


def refine_rigid(body: BodyModel, params: BodyParams, points: np.ndarray, iterations: int) -> BodyParams:
    """Rigid ICP of the body onto (N, 3) scan points: updates the root rotation and the translation."""
    for _ in range(iterations):
        vertices = body.forward(params).vertices
        nearest = nearest_points(vertices, points)
        keep = nearest.distances <= np.quantile(nearest.distances, ICP_KEEP)
        rotation, shift = kabsch(vertices[nearest.indices[keep]], points[keep])
        params = apply_rigid(body, params, vertices, rotation, shift)
        if np.linalg.norm(matrix_to_axis_angle(rotation)) < 1e-4 and np.linalg.norm(shift) < 1e-4:
            break
    return params


def refine_shape(body: BodyModel, params: BodyParams, points: np.ndarray, iterations: int) -> BodyParams:
    """Levenberg-Marquardt on shape, root rotation and translation against (N, 3) scan points.

    Each step matches the scan points to their nearest body vertices (dropping the worst matches)
    and minimizes the point-to-plane distances, linearized in the shape parameters (finite
    differences of ``forward``) and in a small rigid motion. A step is kept only if it brings the
    body closer to the scan; otherwise the damping grows and the step is retried.
    """
    lo, hi = body.spec.shape_ranges[:, 0].astype(np.float64), body.spec.shape_ranges[:, 1].astype(np.float64)
    mesh = body.forward(params)
    cost, residual, jacobian = _linearize(body, params, mesh, points, lo, hi)
    damping = 1e-3
    for _ in range(iterations):
        normal = jacobian.T @ jacobian
        gradient = jacobian.T @ residual
        for _attempt in range(4):
            scaled = normal + damping * np.diag(np.diag(normal)) + 1e-12 * np.eye(len(normal))
            candidate = _apply_step(body, params, mesh, -np.linalg.solve(scaled, gradient), lo, hi)
            candidate_mesh = body.forward(candidate)
            if _cost(candidate_mesh, points) < cost:
                damping = max(damping / 3, 1e-6)
                break
            damping *= 10
        else:
            break  # no step helps: converged
        params, mesh = candidate, candidate_mesh
        cost, residual, jacobian = _linearize(body, params, mesh, points, lo, hi)
    return params


def _matches(mesh: Mesh, points: np.ndarray):
    """Nearest body vertex of each scan point, the worst ``1 - ICP_KEEP`` dropped: (indices, points)."""
    nearest = nearest_points(mesh.vertices, points)
    keep = nearest.distances <= np.quantile(nearest.distances, ICP_KEEP)
    return nearest.indices[keep], points[keep].astype(np.float64)


def _cost(mesh: Mesh, points: np.ndarray) -> float:
    index, target = _matches(mesh, points)
    normals = mesh.normals[index].astype(np.float64)
    return float(np.mean(np.sum(normals * (mesh.vertices[index] - target), 1) ** 2))


def _linearize(body, params, mesh, points, lo, hi):
    """Point-to-plane residuals (K,) and their Jacobian (K, S + 6) in shape, rotation, translation."""
    index, target = _matches(mesh, points)
    matched = mesh.vertices[index].astype(np.float64)
    normals = mesh.normals[index].astype(np.float64)
    residual = np.sum(normals * (matched - target), 1)
    columns = [np.sum(normals * d, 1) for d in _shape_derivatives(body, params, index, matched, lo, hi)]
    centre = matched.mean(0)
    columns += [np.sum(normals * np.cross(axis, matched - centre), 1) for axis in np.eye(3)]  # small rotation
    columns += [normals[:, k] for k in range(3)]  # translation
    return float(np.mean(residual**2)), residual, np.stack(columns, 1)


def _apply_step(body, params, mesh, step, lo, hi) -> BodyParams:
    """Parameters after a Gauss-Newton step (shape change, then the small rigid motion about the matches)."""
    n_shape = len(lo)
    shape = np.clip(params.shape + step[:n_shape], lo, hi).astype(np.float32)
    reshaped = params.replace(shape=shape)
    vertices = body.forward(reshaped).vertices
    centre = vertices.mean(0).astype(np.float64)
    rotation = rotation_matrix(step[n_shape : n_shape + 3])
    return apply_rigid(body, reshaped, vertices, rotation, centre - rotation @ centre + step[n_shape + 3 :])


def _shape_derivatives(body, params, index, matched, lo, hi, relative_step: float = 0.02):
    """d(matched vertices)/d(shape parameter k) by one-sided finite differences, one (K, 3) array per k."""
    out = []
    for k in range(len(lo)):
        h = relative_step * (hi[k] - lo[k])
        if params.shape[k] + h > hi[k]:
            h = -h
        shape = params.shape.astype(np.float64).copy()
        shape[k] += h
        moved = body.forward(params.replace(shape=shape)).vertices[index].astype(np.float64)
        out.append((moved - matched) / h)
    return out


def apply_rigid(
    body: BodyModel, params: BodyParams, vertices: np.ndarray, rotation: np.ndarray, shift: np.ndarray
) -> BodyParams:
    """Parameters whose mesh is ``vertices @ rotation.T + shift``, for any body model.

    The root rotation becomes ``rotation @ root``; the translation is then solved in closed form (the
    mean offset between the wanted vertices and those of the re-rotated body at zero translation).
    """
    pose = params.pose.copy()
    pose[0] = matrix_to_axis_angle(rotation @ rotation_matrix(params.pose[0]))
    turned = params.replace(pose=pose, translation=np.zeros(3, np.float32))
    wanted = vertices.astype(np.float64) @ rotation.T + shift
    translation = (wanted - body.forward(turned).vertices).mean(axis=0)
    return turned.replace(translation=translation)


def kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R (3, 3) and shift s (3,) minimizing ``|source @ R.T + s - target|²`` (no reflection)."""
    src, dst = source.astype(np.float64), target.astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - mu_s).T @ (dst - mu_d))
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, mu_d - rotation @ mu_s


__all__ = [
    "UNITS",
    "ScanFit",
    "default_regressor_path",
    "load_default_regressor",
    "scan_to_world",
    "fit_scan_file",
    "fit_scan",
    "refine_rigid",
    "refine_shape",
    "scan_distance",
    "apply_rigid",
    "kabsch",
]
