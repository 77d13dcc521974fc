"""Procedural meshes, cameras and reference-image helpers for the rasterizer tests.

Shared by ``tests/test_raster_*.py`` and ``scripts/gen_references.py`` (which regenerates the
golden images in ``tests/references/``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from smplpix_rt.camera import Camera, look_at
from smplpix_rt.contracts import GBuffer, Mesh, MeshTopology

REFERENCE_DIR = Path(__file__).resolve().parent / "references"
FAILURE_DIR = Path(__file__).resolve().parent / "failure"
GOLDEN_SIZE = 96
GOLDEN_ENCODINGS = ("neural", "smplpix", "shaded")

# Golden-image tolerance: mean absolute error below 1/255 and fewer than 0.5 % of the pixels with
# some channel off by more than 8/255 (values in the encoding's own units).
MEAN_TOLERANCE = 1.0 / 255.0
PIXEL_TOLERANCE = 8.0 / 255.0
MAX_BAD_PIXEL_FRACTION = 0.005


# ------------------------------------------------------------------------------------ geometry


def ellipsoid(
    center: tuple[float, float, float], radii: tuple[float, float, float], rings: int, segments: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A closed ellipsoid around ``center``: poles on ±y, faces counter-clockwise from outside.

    Returns:
        vertices (V, 3) float32, normals (V, 3) float32, faces (2 * segments * (rings - 1), 3)
        int32, uv (V, 2) float32 (u = azimuth, v = latitude, v up).
    """
    polar = np.linspace(0.0, np.pi, rings + 1)[1:-1]
    azimuth = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    unit = np.stack([np.sin(p) * np.sin(a), np.cos(p), np.sin(p) * np.cos(a)], -1).reshape(-1, 3)
    unit = np.concatenate([[[0.0, 1.0, 0.0]], unit, [[0.0, -1.0, 0.0]]])
    uv = np.concatenate([[[0.5, 1.0]], np.stack([a / (2 * np.pi), 1 - p / np.pi], -1).reshape(-1, 2), [[0.5, 0.0]]])
    radii_arr = np.asarray(radii, np.float64)
    vertices = unit * radii_arr + np.asarray(center)
    normals = unit / radii_arr
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)

    def ring(i: int) -> np.ndarray:
        return 1 + i * segments + np.arange(segments)

    nxt = np.roll(np.arange(segments), -1)
    faces = [np.stack([np.zeros(segments, int), ring(0), ring(0)[nxt]], 1)]
    for i in range(rings - 2):
        top, bottom = ring(i), ring(i + 1)
        faces.append(np.stack([top, bottom, bottom[nxt]], 1))
        faces.append(np.stack([top, bottom[nxt], top[nxt]], 1))
    last = ring(rings - 2)
    faces.append(np.stack([np.full(segments, len(unit) - 1), last[nxt], last], 1))
    return (
        vertices.astype(np.float32),
        normals.astype(np.float32),
        np.concatenate(faces).astype(np.int32),
        uv.astype(np.float32),
    )


def _combine(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]):
    vertices, normals, faces, uvs, offset = [], [], [], [], 0
    for v, n, f, uv in parts:
        vertices.append(v)
        normals.append(n)
        faces.append(f + offset)
        uvs.append(uv)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(normals), np.concatenate(faces), np.concatenate(uvs)


def make_topology(rest_vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray | None = None) -> MeshTopology:
    """A topology whose rest coordinates are ``rest_vertices`` scaled into [-1, 1] and whose
    vertex colours are a smooth, deterministic function of them."""
    center = 0.5 * (rest_vertices.min(0) + rest_vertices.max(0))
    rest = (rest_vertices - center) / np.abs(rest_vertices - center).max()
    colors = 0.5 + 0.45 * np.sin(np.array([2.1, 2.9, 3.7]) * rest + np.array([0.3, 1.7, 4.1]))
    return MeshTopology(
        faces=faces.astype(np.int32),
        rest_coords=rest.astype(np.float32),
        uv=None if uv is None else uv.astype(np.float32),
        vertex_colors=colors.astype(np.float32),
    )


def sphere_mesh(radius: float = 0.5, center=(0.0, 0.0, 0.0), rings: int = 48, segments: int = 96) -> Mesh:
    """A UV sphere."""
    v, n, f, uv = ellipsoid(center, (radius, radius, radius), rings, segments)
    return Mesh(vertices=v, normals=n, topology=make_topology(v, f, uv))


def snowman_mesh(detail: int = 12, yaw_deg: float = 25.0) -> Mesh:
    """A snowman: body, head and two arms (ellipsoids), turned by ``yaw_deg`` about +Y.

    ``detail`` sets the tessellation: 16 * detail * (detail - 1) triangles (detail 42 ≈ 28k).
    The rest pose is the unturned figure, so rest coordinates differ from world positions.
    """
    rings, segments = detail, 2 * detail
    parts = [
        ellipsoid((0.0, -0.25, 0.0), (0.36, 0.38, 0.34), rings, segments),
        ellipsoid((0.0, 0.33, 0.0), (0.21, 0.22, 0.2), rings, segments),
        ellipsoid((-0.42, 0.02, 0.05), (0.26, 0.065, 0.07), rings, segments),
        ellipsoid((0.42, 0.06, -0.02), (0.26, 0.065, 0.07), rings, segments),
    ]
    rest, normals, faces, uv = _combine(parts)
    topology = make_topology(rest, faces, uv)
    yaw = np.radians(yaw_deg)
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    return Mesh(
        vertices=(rest @ rot.T).astype(np.float32), normals=(normals @ rot.T).astype(np.float32), topology=topology
    )


def facing_triangle(center: np.ndarray, camera: Camera, size: float) -> Mesh:
    """An equilateral triangle centred on world point ``center``, parallel to the image plane."""
    right, down = camera.rotation[0], camera.rotation[1]
    angles = np.radians([90.0, 210.0, 330.0])
    corners = [np.asarray(center) + size * (np.cos(a) * right - np.sin(a) * down) for a in angles]
    vertices = np.asarray(corners, np.float32)
    normals = np.tile(-camera.rotation[2], (3, 1)).astype(np.float32)
    topology = MeshTopology(faces=np.array([[0, 1, 2]], np.int32), rest_coords=np.zeros((3, 3), np.float32))
    return Mesh(vertices=vertices, normals=normals, topology=topology)


def front_camera(size: int, distance: float = 3.0, fov_y_deg: float = 40.0, eye=None, target=(0, 0, 0)) -> Camera:
    """A square camera on +Z (the body's front) looking at ``target``."""
    eye = (0.0, 0.0, distance) if eye is None else eye
    rotation, translation = look_at(np.asarray(eye, float), np.asarray(target, float))
    return Camera.from_fov(size, size, fov_y_deg, rotation, translation)


def golden_scene(size: int = GOLDEN_SIZE) -> tuple[Mesh, Camera]:
    """The mesh and camera of the golden-image tests."""
    return snowman_mesh(detail=12), front_camera(size, eye=(0.5, 0.35, 2.8), target=(0.0, 0.02, 0.0))


# ----------------------------------------------------------------------------- reference images


def reference_path(encoding: str) -> Path:
    """``tests/references/raster_<encoding>.{npz,png}``: float NPZ for signed encodings, PNG otherwise."""
    suffix = "npz" if encoding == "neural" else "png"
    return REFERENCE_DIR / f"raster_{encoding}.{suffix}"


def gbuffer_array(gbuffer: GBuffer) -> np.ndarray:
    """(H, W, 4 * T) float32: the planes side by side along the channel axis."""
    return np.concatenate(gbuffer.planes, axis=-1)


def save_reference(gbuffer: GBuffer) -> Path:
    """Write ``gbuffer`` as the reference of its encoding; returns the path."""
    path = reference_path(gbuffer.encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = gbuffer_array(gbuffer)
    if path.suffix == ".npz":
        np.savez_compressed(path, gbuffer=array.astype(np.float16))
    else:
        Image.fromarray(_to_uint8(array), "RGBA").save(path)
    return path


def load_reference(encoding: str) -> np.ndarray:
    """The stored reference as (H, W, 4 * T) float32."""
    path = reference_path(encoding)
    if path.suffix == ".npz":
        with np.load(path) as data:
            return data["gbuffer"].astype(np.float32)
    return np.asarray(Image.open(path).convert("RGBA"), np.float32) / 255.0


def compare_to_reference(actual: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(mean absolute error, fraction of pixels with a channel off by > PIXEL_TOLERANCE)."""
    diff = np.abs(actual - reference)
    return float(diff.mean()), float((diff.max(axis=-1) > PIXEL_TOLERANCE).mean())


def write_failure_images(name: str, actual: np.ndarray, reference: np.ndarray, signed: bool) -> Path:
    """Save actual, reference and a 16x amplified difference under ``tests/failure/``."""
    FAILURE_DIR.mkdir(parents=True, exist_ok=True)
    for label, array in (("actual", actual), ("reference", reference)):
        Image.fromarray(_preview(array, signed)).save(FAILURE_DIR / f"{name}_{label}.png")
    diff = np.clip(np.abs(actual - reference).max(axis=-1) * 16.0, 0.0, 1.0)
    Image.fromarray((diff * 255).round().astype(np.uint8), "L").save(FAILURE_DIR / f"{name}_diff.png")
    return FAILURE_DIR


def _preview(array: np.ndarray, signed: bool) -> np.ndarray:
    """RGB preview: every 4-channel plane as RGB then its alpha as grey, side by side.

    Signed encodings map [-1, 1] to [0, 1] (so the background and zero depth show as mid grey).
    """
    tiles = []
    for plane in np.split(array, array.shape[-1] // 4, axis=-1):
        plane = plane * 0.5 + 0.5 if signed else plane
        tiles += [plane[..., :3], np.repeat(plane[..., 3:], 3, axis=-1)]
    return _to_uint8(np.concatenate(tiles, axis=1))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    return (np.clip(array, 0.0, 1.0) * 255.0).round().astype(np.uint8)
