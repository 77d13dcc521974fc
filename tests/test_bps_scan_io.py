"""Scan reading (PLY ASCII/binary, OBJ) and surface sampling."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from smplpix_rt.bps.scan_io import Scan, load_scan, sample_surface, save_ply
from smplpix_rt.errors import InputError

# A unit cube: 8 corners, 6 quads (split into 12 triangles on reading).
CORNERS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float32)
QUADS = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]


def _grid_points(n=20):
    g = np.linspace(0, 1, n, dtype=np.float32)
    return np.stack(np.meshgrid(g, g, [0.5]), -1).reshape(-1, 3)


def _ply_header(fmt, n_vertices, n_faces, extra_vertex_props=()):
    lines = ["ply", f"format {fmt} 1.0", "comment made by a test", f"element vertex {n_vertices}"]
    lines += ["property float x", "property float y", "property float z", *extra_vertex_props]
    if n_faces:
        lines += [f"element face {n_faces}", "property list uchar int vertex_indices"]
    return ("\n".join([*lines, "end_header"]) + "\n").encode()


def test_ascii_ply_with_quads(tmp_path):
    points = np.concatenate([CORNERS, _grid_points(3)])
    body = "\n".join(" ".join(f"{v:g}" for v in p) + " 255" for p in points)
    body += "\n" + "\n".join("4 " + " ".join(map(str, q)) for q in QUADS) + "\n"
    path = tmp_path / "cube.ply"
    path.write_bytes(_ply_header("ascii", len(points), len(QUADS), ["property uchar red"]) + body.encode())
    scan = load_scan(path)
    np.testing.assert_allclose(scan.points, points)
    assert scan.faces.shape == (12, 3) and scan.faces.max() == 7


@pytest.mark.parametrize("order, fmt", [("<", "binary_little_endian"), (">", "binary_big_endian")])
def test_binary_ply_with_mixed_polygons_and_extra_properties(tmp_path, order, fmt):
    points = np.concatenate([CORNERS, _grid_points(3)])
    vertex_rows = b"".join(struct.pack(order + "fffd", *p, 1.5) for p in points)
    faces = [QUADS[0], QUADS[1][:3], *QUADS[2:]]  # a triangle among quads: the slow path
    face_rows = b"".join(struct.pack(order + "B" + "i" * len(f), len(f), *f) for f in faces)
    path = tmp_path / "cube.ply"
    path.write_bytes(_ply_header(fmt, len(points), len(faces), ["property double quality"]) + vertex_rows + face_rows)
    scan = load_scan(path)
    np.testing.assert_allclose(scan.points, points)
    assert scan.faces.shape == (11, 3)


def test_save_ply_round_trip_and_point_clouds(tmp_path):
    points = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 4]])
    save_ply(tmp_path / "mesh.ply", points, faces)
    scan = load_scan(tmp_path / "mesh.ply")
    np.testing.assert_array_equal(scan.points, points)
    np.testing.assert_array_equal(scan.faces, faces)
    save_ply(tmp_path / "cloud.ply", points)
    assert load_scan(tmp_path / "cloud.ply").faces is None


def test_obj_with_texture_normal_and_negative_indices(tmp_path):
    lines = [f"v {x} {y} {z}" for x, y, z in CORNERS] + ["v 0.5 0.5 0.5"] * 8 + ["vt 0 0", "vn 0 0 1"]
    lines += ["f 1/1/1 2/1/1 4/1/1 3/1/1", "f 5//1 7//1 8//1", "f -1 -2 -3", "# comment"]
    (tmp_path / "cube.obj").write_text("\n".join(lines) + "\n")
    scan = load_scan(tmp_path / "cube.obj")
    assert scan.points.shape == (16, 3)
    np.testing.assert_array_equal(scan.faces, [[0, 1, 3], [0, 3, 2], [4, 6, 7], [15, 14, 13]])


def test_surface_samples_follow_area():
    # Two triangles in the z = 0 plane with areas 1/2 and 3/2 (x < 1 and x > 1).
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [4, 0, 0], [1, 1, 0]] + [[9, 9, 9]] * 10, np.float32)
    scan = Scan(points, np.array([[0, 1, 2], [3, 4, 5]]))
    samples = sample_surface(scan, 20000, np.random.default_rng(0))
    assert samples.shape == (20000, 3) and np.all(samples[:, 2] == 0)
    assert abs((samples[:, 0] > 1).mean() - 0.75) < 0.02
    cloud = sample_surface(Scan(points), 5, np.random.default_rng(0))  # no faces: a subset of the points
    assert all((points == p).all(1).any() for p in cloud)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("scan.stl", b"solid x", "unsupported type"),
        ("few.obj", b"v 0 0 0\nv 1 0 0\n", "at least 16"),
        ("nan.obj", b"v 0 0 nan\n" * 20, "NaN"),
        ("empty.obj", b"# nothing\n", "no 'v' lines"),
        ("faces.obj", b"v 0 0 0\n" * 20 + b"f 1 2 30\n", "face indices"),
        ("junk.ply", b"solid ascii\nfacet", "not a PLY file"),
        ("cut.ply", _ply_header("binary_little_endian", 100, 0) + b"\0" * 12, "not a valid PLY"),
        ("nov.ply", b"ply\nformat ascii 1.0\nelement face 0\nend_header\n", "no 'vertex' element"),
    ],
)
def test_bad_scans_raise_clear_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_scan(tmp_path / name)


def test_missing_scan_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_scan(tmp_path / "nope.ply")
