"""Reading scans (PLY, OBJ) and sampling points on their surface.

PLY: ASCII and binary (little or big endian); the ``vertex`` element's ``x``, ``y``, ``z`` and, if
present, the ``face`` element's ``vertex_indices`` (or ``vertex_index``) lists; other elements and
properties are skipped. OBJ: ``v`` and ``f`` lines (``i``, ``i/t``, ``i/t/n``, ``i//n`` and negative
indices). Polygons are split into triangle fans. A file without faces is a point cloud.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplpix_rt.errors import InputError

SCAN_SUFFIXES = (".ply", ".obj")
MIN_SCAN_POINTS = 16

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Scan:
    """A scanned surface or point cloud.

    Attributes:
        points: (V, 3) float32 vertex positions, in the file's units.
        faces: (F, 3) int64 triangles indexing ``points``, or None for a point cloud.
    """

    points: np.ndarray
    faces: np.ndarray | None = None


@dataclass(frozen=True)
class _Element:
    name: str
    count: int
    properties: tuple[tuple[str, str, str | None], ...]  # (name, value type, list count type or None)


def load_scan(path: str | Path) -> Scan:
    """Read a ``.ply`` or ``.obj`` scan.

    Raises:
        InputError: missing file, unsupported suffix, malformed content, fewer than
            ``MIN_SCAN_POINTS`` vertices, non-finite coordinates or out-of-range face indices.
    """
    path = Path(path)
    if path.suffix.lower() not in SCAN_SUFFIXES:
        raise InputError(f"scan {path} has an unsupported type {path.suffix!r}; use a .ply or .obj file")
    if not path.is_file():
        raise InputError(f"scan file {path} does not exist")
    data = path.read_bytes()
    try:
        points, faces = _parse_ply(data) if path.suffix.lower() == ".ply" else _parse_obj(data)
    except InputError as e:
        raise InputError(f"scan {path}: {e}") from None
    except (ValueError, IndexError, struct.error, UnicodeDecodeError) as e:
        raise InputError(f"scan {path} is not a valid {path.suffix[1:].upper()} file: {e}") from None
    return _checked_scan(points, faces, str(path))


def sample_surface(scan: Scan, n_points: int, rng: np.random.Generator) -> np.ndarray:
    """(n_points, 3) float32 points uniform over the surface (area-weighted), or drawn from the vertices.

    A point cloud (no faces) or a mesh without area gives a random subset of its vertices (with
    repetition only when it has fewer than ``n_points``).
    """
    v = scan.points.astype(np.float64)
    if scan.faces is not None and len(scan.faces):
        tri = v[scan.faces]  # (F, 3, 3)
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        if area.sum() > 0:
            which = rng.choice(len(area), size=n_points, p=area / area.sum())
            u, w = rng.uniform(size=(2, n_points))
            flip = u + w > 1
            u[flip], w[flip] = 1 - u[flip], 1 - w[flip]
            t = tri[which]
            return (t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + w[:, None] * (t[:, 2] - t[:, 0])).astype(np.float32)
    pick = rng.choice(len(v), size=n_points, replace=len(v) < n_points)
    return v[pick].astype(np.float32)


def save_ply(path: str | Path, points: np.ndarray, faces: np.ndarray | None = None) -> None:
    """Write a binary little-endian PLY (float vertices, uchar/int face lists)."""
    points = np.ascontiguousarray(points, "<f4")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(points)}"]
    header += ["property float x", "property float y", "property float z"]
    if faces is not None:
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    body = points.tobytes()
    if faces is not None:
        rows = np.zeros(len(faces), dtype=[("n", "u1"), ("i", "<i4", (3,))])
        rows["n"], rows["i"] = 3, faces
        body += rows.tobytes()
    Path(path).write_bytes(("\n".join(header + ["end_header"]) + "\n").encode("ascii") + body)


# ------------------------------------------------------------------------------------------------ PLY


def _parse_ply(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise InputError("not a PLY file (expected a 'ply' header ending with 'end_header')")
    newline = data.find(b"\n", end)
    header = data[:end].decode("ascii").splitlines()
    body = data[newline + 1 :]
    fmt, elements = _parse_ply_header(header)
    if not any(e.name == "vertex" for e in elements):
        raise InputError("the PLY file has no 'vertex' element")
    if fmt == "ascii":
        return _ply_ascii(body, elements)
    return _ply_binary(body, elements, "<" if fmt == "binary_little_endian" else ">")


def _parse_ply_header(lines: list[str]) -> tuple[str, list[_Element]]:
    fmt, elements = None, []
    for line in lines[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            fmt = words[1]
        elif words[0] == "element":
            elements.append(_Element(words[1], int(words[2]), ()))
        elif words[0] == "property" and elements:
            prop = (words[4], words[3], words[2]) if words[1] == "list" else (words[2], words[1], None)
            if prop[1] not in _PLY_TYPES or (prop[2] is not None and prop[2] not in _PLY_TYPES):
                raise InputError(f"unknown PLY property type in {line!r}")
            last = elements[-1]
            elements[-1] = _Element(last.name, last.count, last.properties + (prop,))
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise InputError(f"unsupported PLY format {fmt!r}")
    return fmt, elements


def _vertex_xyz(names: list[str], columns) -> np.ndarray:
    missing = [a for a in "xyz" if a not in names]
    if missing:
        raise InputError(f"the PLY vertex element lacks the properties {missing}")
    return np.stack([np.asarray(columns[names.index(a)], np.float64) for a in "xyz"], 1)


def _face_property(element: _Element) -> int | None:
    for i, (name, _, count_type) in enumerate(element.properties):
        if name in ("vertex_indices", "vertex_index") and count_type is not None:
            return i
    return None


def _ply_ascii(body: bytes, elements: list[_Element]) -> tuple[np.ndarray, np.ndarray | None]:
    lines = iter(body.decode("ascii").splitlines())
    points, faces = None, None
    for element in elements:
        rows = [next(lines).split() for _ in range(element.count)]
        if element.name == "vertex":
            scalar = all(p[2] is None for p in element.properties)
            if not scalar:
                raise InputError("list properties in the PLY vertex element are not supported")
            table = np.asarray(rows, np.float64).reshape(element.count, len(element.properties))
            points = _vertex_xyz([p[0] for p in element.properties], table.T)
        elif element.name == "face" and _face_property(element) is not None:
            if _face_property(element) != 0:
                raise InputError("the PLY face list must be the face element's first property")
            faces = _fans([[int(i) for i in row[1 : 1 + int(row[0])]] for row in rows])
    return points, faces


def _ply_binary(body: bytes, elements: list[_Element], order: str) -> tuple[np.ndarray, np.ndarray | None]:
    points, faces, offset = None, None, 0
    for element in elements:
        if all(p[2] is None for p in element.properties):
            dtype = np.dtype([(f"p{i}", order + _PLY_TYPES[t]) for i, (_, t, _) in enumerate(element.properties)])
            table = np.frombuffer(body, dtype, count=element.count, offset=offset)
            offset += dtype.itemsize * element.count
            if element.name == "vertex":
                points = _vertex_xyz([p[0] for p in element.properties], [table[f"p{i}"] for i in range(len(dtype))])
            continue
        if element.name == "vertex":
            raise InputError("list properties in the PLY vertex element are not supported")
        polygons, offset = _read_binary_lists(body, offset, element, order)
        if element.name == "face" and polygons is not None:
            faces = _fans(polygons)
    if points is None:
        raise InputError("the PLY file has no vertex data")
    return points, faces


def _read_binary_lists(body: bytes, offset: int, element: _Element, order: str):
    """Walk an element with list properties; returns the face index lists (if any) and the new offset."""
    which = _face_property(element) if element.name == "face" else None
    props = element.properties
    if which is not None and len(props) == 1:  # common case: one list per face, try all-triangles first
        count_dt, index_dt = np.dtype(order + _PLY_TYPES[props[0][2]]), np.dtype(order + _PLY_TYPES[props[0][1]])
        tri = np.dtype([("n", count_dt), ("i", index_dt, (3,))])
        if len(body) - offset >= tri.itemsize * element.count:
            rows = np.frombuffer(body, tri, count=element.count, offset=offset)
            if (rows["n"] == 3).all():
                return rows["i"].astype(np.int64), offset + tri.itemsize * element.count
    polygons = []
    for _ in range(element.count):
        for i, (_, value_type, count_type) in enumerate(props):
            value = struct.Struct(order + _struct_code(value_type))
            if count_type is None:
                offset += value.size
                continue
            counter = struct.Struct(order + _struct_code(count_type))
            (n,) = counter.unpack_from(body, offset)
            offset += counter.size
            values = struct.unpack_from(order + _struct_code(value_type) * n, body, offset)
            offset += value.size * n
            if i == which:
                polygons.append(list(values))
    return (polygons if which is not None else None), offset


_STRUCT_CODES = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}


def _struct_code(ply_type: str) -> str:
    return _STRUCT_CODES[_PLY_TYPES[ply_type]]


# ------------------------------------------------------------------------------------------------ OBJ


def _parse_obj(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    vertices, polygons = [], []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.startswith("v "):
            vertices.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("f "):
            polygons.append([int(t.split("/")[0]) for t in line.split()[1:]])
    if not vertices:
        raise InputError("the OBJ file has no 'v' lines")
    points = np.asarray(vertices, np.float64)
    if points.shape[1] != 3:
        raise InputError("OBJ 'v' lines need three coordinates")
    n = len(points)
    polygons = [[i - 1 if i > 0 else n + i for i in poly] for poly in polygons]
    return points, (_fans(polygons) if polygons else None)


def _fans(polygons: list[list[int]]) -> np.ndarray:
    triangles = [(p[0], p[k], p[k + 1]) for p in polygons if len(p) >= 3 for k in range(1, len(p) - 1)]
    return np.asarray(triangles, np.int64).reshape(-1, 3)


def _checked_scan(points: np.ndarray, faces: np.ndarray | None, source: str) -> Scan:
    if points is None or len(points) < MIN_SCAN_POINTS:
        n = 0 if points is None else len(points)
        raise InputError(f"scan {source} has {n} points; at least {MIN_SCAN_POINTS} are needed")
    if not np.isfinite(points).all():
        raise InputError(f"scan {source} has NaN or infinite vertex coordinates")
    if faces is not None and len(faces):
        if faces.min() < 0 or faces.max() >= len(points):
            raise InputError(f"scan {source} has face indices outside [0, {len(points)})")
    elif faces is not None:
        faces = None
    return Scan(points.astype(np.float32), faces)


__all__ = ["Scan", "SCAN_SUFFIXES", "MIN_SCAN_POINTS", "load_scan", "sample_surface", "save_ply"]
