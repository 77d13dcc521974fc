"""GPU copies of the meshes a renderer draws: one set of buffers per :class:`MeshTopology`.

The constant part of a topology (faces, rest coordinates, vertex colours) is validated and
uploaded once; per frame only positions and normals are written into existing buffers.
"""

from __future__ import annotations

from collections import OrderedDict

import moderngl
import numpy as np

from smplpix_rt.contracts import Mesh, MeshTopology
from smplpix_rt.errors import InputError

#: How many topologies a renderer keeps on the GPU before dropping the least recently drawn one.
MAX_CACHED_TOPOLOGIES = 8


def validate_topology(topology: MeshTopology) -> tuple[np.ndarray, np.ndarray]:
    """Check a topology and return its GPU arrays.

    Args:
        topology: the mesh topology to upload.

    Returns:
        ``(faces, attributes)``: (F, 3) uint32 indices and (V, 6) float32 rest coordinates
        followed by vertex colours (``(rest + 1) / 2`` when the topology has none).

    Raises:
        InputError: wrong shapes or dtypes, non-finite values, or face indices out of range.
    """
    if not isinstance(topology, MeshTopology):
        raise InputError(f"mesh.topology must be a MeshTopology, got {type(topology).__name__}")
    rest = _float_array(topology.rest_coords, "mesh topology rest_coords", None)
    num_vertices = rest.shape[0]
    faces = np.asarray(topology.faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0 or not np.issubdtype(faces.dtype, np.integer):
        raise InputError(
            f"mesh topology faces must be a non-empty (F, 3) integer array, got {faces.shape} {faces.dtype}"
        )
    if faces.min() < 0 or faces.max() >= num_vertices:
        raise InputError(
            f"mesh topology faces index vertices {faces.min()}..{faces.max()}, but there are {num_vertices} vertices"
        )
    if topology.vertex_colors is None:
        colors = (rest + 1.0) * 0.5
    else:
        colors = _float_array(topology.vertex_colors, "mesh topology vertex_colors", num_vertices)
    attributes = np.ascontiguousarray(np.concatenate([rest, colors], axis=1), dtype=np.float32)
    return np.ascontiguousarray(faces, dtype=np.uint32), attributes


def validate_mesh_arrays(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame check of a mesh's vertices and normals.

    Args:
        mesh: the posed mesh.

    Returns:
        ``(vertices, normals)`` as contiguous (V, 3) float32 arrays (no copy when they already are).

    Raises:
        InputError: wrong shape or dtype, or NaN / infinite values.
    """
    if not isinstance(mesh, Mesh):
        raise InputError(f"expected a Mesh, got {type(mesh).__name__}")
    if not isinstance(mesh.topology, MeshTopology):
        raise InputError(f"mesh.topology must be a MeshTopology, got {type(mesh.topology).__name__}")
    count = mesh.topology.num_vertices
    return (
        _float_array(mesh.vertices, "mesh vertices", count),
        _float_array(mesh.normals, "mesh normals", count),
    )


def _float_array(values: object, what: str, count: int | None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != 3 or (count is not None and array.shape[0] != count):
        expected = f"({count if count is not None else 'V'}, 3)"
        raise InputError(f"{what} must have shape {expected}, got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{what} must be floating point (float32), got {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InputError(f"{what} contain NaN or infinite values")
    return array


class TopologyBuffers:
    """Buffers of one topology: static attributes, indices, per-frame positions and normals.

    Vertex arrays are created lazily, one per program (encoding), and released with the buffers.
    """

    def __init__(self, ctx: moderngl.Context, topology: MeshTopology) -> None:
        faces, attributes = validate_topology(topology)
        self.num_vertices = attributes.shape[0]
        self._ctx = ctx
        self._static = ctx.buffer(attributes.tobytes())
        self._indices = ctx.buffer(faces.tobytes())
        self._positions = ctx.buffer(reserve=self.num_vertices * 12, dynamic=True)
        self._normals = ctx.buffer(reserve=self.num_vertices * 12, dynamic=True)
        self._vertex_arrays: dict[str, moderngl.VertexArray] = {}

    @property
    def buffers(self) -> tuple[moderngl.Buffer, ...]:
        """The GL buffers this object owns (static, index, positions, normals)."""
        return self._static, self._indices, self._positions, self._normals

    def upload(self, vertices: np.ndarray, normals: np.ndarray) -> None:
        """Write this frame's (V, 3) float32 positions and normals (orphaning the old storage)."""
        self._positions.orphan()
        self._positions.write(vertices)
        self._normals.orphan()
        self._normals.write(normals)

    def vertex_array(self, key: str, program: moderngl.Program) -> moderngl.VertexArray:
        """The vertex array binding these buffers to ``program`` (cached under ``key``)."""
        vao = self._vertex_arrays.get(key)
        if vao is None:
            content: list[tuple] = []
            uses_rest, uses_color = "in_rest" in program, "in_color" in program
            if uses_rest or uses_color:
                layout = f"{'3f' if uses_rest else '12x'} {'3f' if uses_color else '12x'}"
                names = [name for name, used in (("in_rest", uses_rest), ("in_color", uses_color)) if used]
                content.append((self._static, layout, *names))
            for buffer, name in ((self._positions, "in_position"), (self._normals, "in_normal")):
                if name in program:
                    content.append((buffer, "3f", name))
            vao = self._ctx.vertex_array(program, content, index_buffer=self._indices, index_element_size=4)
            self._vertex_arrays[key] = vao
        return vao

    def release(self) -> None:
        """Free the vertex arrays and buffers. Idempotent."""
        for vao in self._vertex_arrays.values():
            vao.release()
        self._vertex_arrays.clear()
        for buffer in self.buffers:
            buffer.release()


class TopologyCache:
    """Least-recently-used map from topology (by identity) to its :class:`TopologyBuffers`."""

    def __init__(self, ctx: moderngl.Context, capacity: int = MAX_CACHED_TOPOLOGIES) -> None:
        self._ctx = ctx
        self._capacity = capacity
        self._entries: OrderedDict[MeshTopology, TopologyBuffers] = OrderedDict()  # keyed by identity

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, topology: MeshTopology) -> TopologyBuffers:
        """Buffers of ``topology``, uploading it on first use (may evict the oldest entry)."""
        buffers = self._entries.get(topology)
        if buffers is not None:
            self._entries.move_to_end(topology)
            return buffers
        buffers = TopologyBuffers(self._ctx, topology)
        self._entries[topology] = buffers
        while len(self._entries) > self._capacity:
            _, evicted = self._entries.popitem(last=False)
            evicted.release()
        return buffers

    def release(self) -> None:
        """Free every cached topology's buffers."""
        for buffers in self._entries.values():
            buffers.release()
        self._entries.clear()
