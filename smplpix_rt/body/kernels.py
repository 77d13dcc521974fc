"""Numba kernels for the per-frame body work: quantized pose correctives, fused skinning, local blendshapes (optional).

A whole new SMPL-X pose multiplies 486 pose features by a 486 x 31,425 corrective matrix. In
float32 that is 61 MB to stream per pose, ~2.4 ms on one core of the reference box however it is
computed (it is memory-bound), which alone is a third of a ``smplx`` forward. Three things bring
the pose update within budget:

- :class:`PairedInt8Matrix` (default where it runs: x86-64 with AVX2) stores the matrix as int8
  with one float32 scale per column and multiplies it in integers: 15 MB per pose, one
  ``vpmaddwd`` per 16 entries (:mod:`~smplpix_rt.body.pair_kernel`), ~0.7 ms. An entry rounds by
  up to ``max|column| / 254`` and the inputs are rounded to 15 bits;
  :meth:`PairedInt8Matrix.error_bound` bounds the result's error.
- :class:`QuantizedMatrix` stores it as int16 with one float32 scale per column (the column's
  largest magnitude maps to 32767) in column blocks laid out contiguously, so one pass streams
  31 MB and accumulates each block in registers (~1.4 ms, as long as the core needs to convert
  and multiply-add the entries in float32). The rounding error of an entry is at most half a
  step, ``max|column| / 65534``; :attr:`QuantizedMatrix.max_entry_error` gives the bound and
  :meth:`QuantizedMatrix.error_bound` turns it into a per-output bound for given inputs (for real
  pose features it is far below a micrometre; the float32 sums themselves round at ~1e-7 relative).
- :func:`skin` blends each vertex's few joint transforms and applies them to the corrected rest
  vertex and its normal in one loop, writing (V, 3) outputs directly (no planar intermediates).

:class:`LocalBlendshapes` applies blendshapes that move only part of a mesh (Anny's facial
actions) and redoes the normals around them in one pass, straight into render order: an Anny
expression edit measured 1.22 -> 0.68 ms per forward against the PyTorch formulation.

Kernels release the GIL (the viewer poses bodies on a worker thread) and run on the calling thread
only. They are compiled on first use (a few seconds) and cached next to this file, or in Numba's
user cache, when that is writable. Requires ``numba``: :func:`available` tells whether it can be used.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from smplpix_rt.errors import BackendUnavailableError, InputError

BLOCK = 128  # columns per block: 128 float32 accumulators stay in registers / L1
_KERNELS: dict[str, object] = {}


def available() -> bool:
    """True when Numba is installed."""
    return importlib.util.find_spec("numba") is not None


def choose(kernels: str) -> str:
    """Resolve a body model's ``kernels`` option: ``"auto"`` → ``"numba"`` when installed, else ``"torch"``.

    Raises:
        InputError: not ``"auto"``, ``"numba"`` or ``"torch"``.
        BackendUnavailableError: ``"numba"`` without Numba.
    """
    if kernels not in ("auto", "numba", "torch"):
        raise InputError(f"body kernels must be 'auto', 'numba' or 'torch', got {kernels!r}")
    if kernels == "numba" and not available():
        raise BackendUnavailableError("body kernels 'numba' need Numba: pip install numba")
    if kernels == "auto":
        return "numba" if available() else "torch"
    return kernels


@dataclass(frozen=True, eq=False)
class QuantizedMatrix:
    """A (K, N) float32 matrix as int16 columns with per-column scales, for ``x @ M`` products.

    Attributes:
        blocks: (N_pad / BLOCK, K, BLOCK) int16, column blocks stored one after the other.
        scales: (N_pad,) float32 per-column scale (zero-padded).
        num_columns: N.
    """

    blocks: np.ndarray
    scales: np.ndarray
    num_columns: int

    @staticmethod
    def from_dense(matrix: np.ndarray) -> QuantizedMatrix:
        m = np.asarray(matrix, np.float32)
        k, n = m.shape
        padded = -(-n // BLOCK) * BLOCK
        peak = np.abs(m).max(0) if k else np.zeros(n, np.float32)
        scales = np.zeros(padded, np.float32)
        scales[:n] = np.where(peak > 0, peak / 32767.0, 0.0)
        safe = np.where(scales[:n] > 0, scales[:n], 1.0)
        q = np.zeros((k, padded), np.int16)
        q[:, :n] = np.clip(np.rint(m / safe), -32767, 32767).astype(np.int16)
        blocks = np.ascontiguousarray(q.reshape(k, padded // BLOCK, BLOCK).transpose(1, 0, 2))
        return QuantizedMatrix(blocks=blocks, scales=scales, num_columns=n)

    @property
    def num_rows(self) -> int:
        return int(self.blocks.shape[1])

    @property
    def max_entry_error(self) -> np.ndarray:
        """(N,) largest rounding error of any entry in each column (half a quantization step)."""
        return self.scales[: self.num_columns] * 0.5

    def error_bound(self, x: np.ndarray) -> np.ndarray:
        """(N,) bound on ``|x @ M_quantized - x @ M|`` from quantization (float32 sums aside)."""
        return self.max_entry_error * float(np.abs(x).sum())

    def dequantize(self) -> np.ndarray:
        """(K, N) float32 matrix the int16 entries stand for."""
        k = self.num_rows
        q = self.blocks.transpose(1, 0, 2).reshape(k, -1)[:, : self.num_columns]
        return q.astype(np.float32) * self.scales[: self.num_columns]

    def matvec(self, x: np.ndarray, rows: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """``x @ M`` (N,) float32; with ``rows``, ``x`` holds values for those rows only."""
        x = np.ascontiguousarray(x, np.float32)
        rows = np.arange(self.num_rows, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        if x.shape != rows.shape:
            raise ValueError(f"x has shape {x.shape}, expected {rows.shape}")
        pad = -len(rows) % 4  # the kernel takes rows four at a time: pad with zero-weighted row 0
        if pad:
            x, rows = np.concatenate([x, np.zeros(pad, np.float32)]), np.concatenate([rows, np.zeros(pad, np.int64)])
        full = np.empty(self.scales.shape[0], np.float32)
        _kernel("matvec")(x, rows, self.blocks, self.scales, full)
        if out is None:
            return full[: self.num_columns]
        out[:] = full[: self.num_columns]
        return out


#: Largest quantized input magnitude of :class:`PairedInt8Matrix` (15 bits): with int8 entries,
#: up to 516 row pairs sum into int32 without overflow.
PAIR_INPUT_LIMIT = 16383


def paired_available() -> bool:
    """True when :class:`PairedInt8Matrix` can run here: Numba, an x86-64 CPU with AVX2, and
    Numba compiling for this CPU (not for a generic target set by ``NUMBA_CPU_NAME``)."""
    if not available():
        return False
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    import llvmlite.binding as llvm
    from numba.core import config

    if config.CPU_NAME not in (None, "host"):
        return False
    return bool(llvm.get_host_cpu_features().get("avx2", False))


@dataclass(frozen=True, eq=False)
class PairedInt8Matrix:
    """A (K, N) float32 matrix as int8 columns with per-column scales, for ``x @ M`` products
    computed in integers (AVX2 ``vpmaddwd``; see :mod:`~smplpix_rt.body.pair_kernel`).

    Half the bytes of :class:`QuantizedMatrix`, and integer multiply-adds instead of conversions
    to float: a whole new SMPL-X pose streams 15 MB instead of 31 MB. The price is precision:
    an entry rounds by up to ``max|column| / 254`` (:attr:`max_entry_error`), and the inputs are
    quantized to 15 bits of their largest magnitude per call. :meth:`error_bound` bounds both.

    Attributes:
        blocks: (N_pad / BLOCK, K_pad / 2, 2 * BLOCK) int8: per column block, rows 2p and 2p + 1
            interleaved column by column.
        scales: (N_pad,) float32 per-column scale (zero-padded).
        num_rows: K.
        num_columns: N.
    """

    blocks: np.ndarray
    scales: np.ndarray
    num_rows: int
    num_columns: int

    @staticmethod
    def from_dense(matrix: np.ndarray) -> PairedInt8Matrix:
        m = np.asarray(matrix, np.float32)
        k, n = m.shape
        if k > 2 * ((2**31 - 1) // (2 * 127)):  # int32 sums could overflow even with 1-bit inputs
            raise ValueError(f"PairedInt8Matrix takes at most 16 million rows, got {k}")
        padded, rows = -(-n // BLOCK) * BLOCK, k + k % 2
        peak = np.abs(m).max(0) if k else np.zeros(n, np.float32)
        scales = np.zeros(padded, np.float32)
        scales[:n] = np.where(peak > 0, peak / 127.0, 0.0)
        safe = np.where(scales[:n] > 0, scales[:n], 1.0)
        q = np.zeros((rows, padded), np.int8)
        q[:k, :n] = np.clip(np.rint(m / safe), -127, 127).astype(np.int8)
        blocks = q.reshape(rows // 2, 2, padded // BLOCK, BLOCK).transpose(2, 0, 3, 1)
        blocks = np.ascontiguousarray(blocks.reshape(padded // BLOCK, rows // 2, 2 * BLOCK))
        return PairedInt8Matrix(blocks=blocks, scales=scales, num_rows=k, num_columns=n)

    @property
    def max_entry_error(self) -> np.ndarray:
        """(N,) largest rounding error of any entry in each column (half a quantization step)."""
        return self.scales[: self.num_columns] * 0.5

    @staticmethod
    def input_limit(num_pairs: int) -> int:
        """Largest quantized input magnitude for a product over ``num_pairs`` row pairs."""
        return min(PAIR_INPUT_LIMIT, (2**31 - 1) // (2 * 127 * max(1, num_pairs)))

    def _pairs(self, rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            return np.arange(self.blocks.shape[1], dtype=np.int64)
        return np.unique(np.asarray(rows, np.int64) // 2)

    def error_bound(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(N,) bound on ``|matvec(x, rows) - x @ M[rows]|`` from both quantizations (float32 rounding aside)."""
        x = np.abs(np.asarray(x, np.float64))
        input_step = float(x.max(initial=0.0)) / self.input_limit(len(self._pairs(rows)))
        peak = self.scales[: self.num_columns].astype(np.float64) * 127.0
        return self.max_entry_error * float(x.sum()) + peak * (input_step * 0.5) * len(x)

    def dequantize(self) -> np.ndarray:
        """(K, N) float32 matrix the int8 entries stand for."""
        n_blocks, pairs, _ = self.blocks.shape
        q = self.blocks.reshape(n_blocks, pairs, BLOCK, 2).transpose(1, 3, 0, 2).reshape(2 * pairs, -1)
        return q[: self.num_rows, : self.num_columns].astype(np.float32) * self.scales[: self.num_columns]

    def matvec(self, x: np.ndarray, rows: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """``x @ M`` (N,) float32; with ``rows`` (distinct), ``x`` holds values for those rows only."""
        x = np.asarray(x, np.float32)
        full = np.zeros(self.blocks.shape[1] * 2, np.float32)
        if rows is None:
            if x.shape != (self.num_rows,):
                raise ValueError(f"x has shape {x.shape}, expected {(self.num_rows,)}")
            full[: self.num_rows] = x
        else:
            rows = np.asarray(rows, np.int64)
            if x.shape != rows.shape:
                raise ValueError(f"x has shape {x.shape}, expected {rows.shape}")
            full[rows] = x
        pairs = self._pairs(rows)
        result = np.zeros(self.scales.shape[0], np.float32)
        peak = float(np.abs(full).max(initial=0.0))
        if peak > 0:
            step = peak / self.input_limit(len(pairs))
            quantized = np.rint(full / step).astype(np.int16).view(np.int32)  # (x[2p], x[2p + 1]) per pair
            _kernel("paired")(quantized[pairs], pairs, self.blocks, self.scales, np.float32(step), result)
        if out is None:
            return result[: self.num_columns]
        out[:] = result[: self.num_columns]
        return out


def skin(
    rest_vertices: np.ndarray,
    rest_normals: np.ndarray,
    offsets: np.ndarray | None,
    joint_index: np.ndarray,
    joint_weight: np.ndarray,
    transforms: np.ndarray,
    shift: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Linear blend skinning of vertices and normals in one pass.

    Args:
        rest_vertices, rest_normals: (V, 3) float32.
        offsets: (V, 3) float32 added to the rest vertices first (pose correctives), or None.
        joint_index, joint_weight: (V, K) int32 joints and float32 weights per vertex, as made by
            :func:`padded_weights`: each row's non-zeros first, then zero padding.
        transforms: (J, 12) float32 row-major 3x4 skinning transforms.
        shift: (3,) float32 added to every skinned vertex.

    Returns:
        (V, 3) float32 vertices and (V, 3) unit normals (zero normals stay zero).
    """
    vertices = np.empty_like(rest_vertices)
    normals = np.empty_like(rest_normals)
    none = offsets is None
    _kernel("skin")(
        rest_vertices,
        rest_normals,
        rest_vertices if none else offsets,
        none,
        joint_index,
        joint_weight,
        np.ascontiguousarray(transforms, np.float32),
        np.ascontiguousarray(shift, np.float32),
        vertices,
        normals,
    )
    return vertices, normals


@dataclass(frozen=True, eq=False)
class LocalBlendshapes:
    """Blendshapes that move a few vertices (e.g. a face), applied to rest rows in render order.

    One pass adds the weighted deltas to the moving vertices and recomputes the area-weighted
    normals of every vertex of a triangle that touches one of them (the only normals that can
    change), writing straight into copies of the render-order rows. The result equals adding the
    deltas to the whole mesh, recomputing all normals and gathering the rows again, up to float32
    summation order.

    Attributes:
        deltas: (K, M * 3) float32 blendshape rows over the moving vertices.
        moving: (M,) int64 moving vertices.
        faces: (F, 3) int64 the triangles incident to an affected vertex (mesh vertex indices).
        affected: (A,) int64 vertices whose normals can change.
        incident_offsets, incident_faces: the triangles of each affected vertex (CSR rows into ``faces``).
        moving_rows, moving_index: render rows showing a moving vertex, and which one (into ``moving``).
        affected_rows, affected_index: render rows showing an affected vertex, and which one (into ``affected``).
    """

    deltas: np.ndarray
    moving: np.ndarray
    faces: np.ndarray
    affected: np.ndarray
    incident_offsets: np.ndarray
    incident_faces: np.ndarray
    moving_rows: np.ndarray
    moving_index: np.ndarray
    affected_rows: np.ndarray
    affected_index: np.ndarray

    @staticmethod
    def build(faces: np.ndarray, num_vertices: int, moving: np.ndarray, deltas: np.ndarray, render_to_mesh: np.ndarray):
        """Precompute the patch for a triangle list, the moving vertices and their (K, M * 3) deltas."""
        from smplpix_rt.body.skinning import faces_around

        moving = np.asarray(moving, np.int64)
        affected, local = faces_around(faces, num_vertices, moving)
        position = np.full(num_vertices, -1, np.int64)
        position[affected] = np.arange(affected.size)
        corner_vertex, corner_face = local.reshape(-1), np.repeat(np.arange(local.shape[0]), 3)
        keep = position[corner_vertex] >= 0
        owner = position[corner_vertex[keep]]
        order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=affected.size)
        moving_at = np.full(num_vertices, -1, np.int64)
        moving_at[moving] = np.arange(moving.size)
        render = np.asarray(render_to_mesh, np.int64)
        moving_rows = np.flatnonzero(moving_at[render] >= 0)
        affected_rows = np.flatnonzero(position[render] >= 0)
        return LocalBlendshapes(
            deltas=np.ascontiguousarray(deltas, np.float32),
            moving=moving,
            faces=np.ascontiguousarray(local),
            affected=affected,
            incident_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            incident_faces=np.ascontiguousarray(corner_face[keep][order]),
            moving_rows=moving_rows,
            moving_index=moving_at[render[moving_rows]],
            affected_rows=affected_rows,
            affected_index=position[render[affected_rows]],
        )

    def apply(
        self, weights: np.ndarray, vertices: np.ndarray, vertex_rows: np.ndarray, normal_rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rest rows with the blendshapes ``weights`` (K,) added.

        Args:
            weights: (K,) blendshape weights.
            vertices: (V, 3) float32 mesh vertices without the blendshapes.
            vertex_rows, normal_rows: (R, 3) float32 render-order rows without them (not modified).

        Returns:
            New (R, 3) float32 vertex and unit normal rows.
        """
        # The weighted sum runs in the kernel: NumPy's matmul would wake its BLAS threads, which
        # then spin on the cores a PyTorch generator needs (it doubled its time in the pipeline).
        out_vertices, out_normals = vertex_rows.copy(), normal_rows.copy()
        _kernel("blendshapes")(
            np.ascontiguousarray(weights, np.float32),
            self.deltas,
            self.moving,
            np.ascontiguousarray(vertices, np.float32),
            self.faces,
            self.incident_offsets,
            self.incident_faces,
            self.moving_rows,
            self.moving_index,
            self.affected_rows,
            self.affected_index,
            out_vertices,
            out_normals,
        )
        return out_vertices, out_normals


def padded_weights(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, K) int32 joints and float32 weights of the non-zeros of a (V, J) weight matrix."""
    nonzero = dense != 0
    width = max(1, int(nonzero.sum(1).max()))
    order = np.argsort(~nonzero, axis=1, kind="stable")[:, :width]
    weights = np.take_along_axis(dense, order, 1).astype(np.float32)
    return np.where(weights != 0, order, 0).astype(np.int32), weights


def _kernel(name: str):
    kernel = _KERNELS.get(name)
    if kernel is None:
        try:
            import numba
        except ImportError:
            raise BackendUnavailableError("the fast SMPL-X kernels need Numba: pip install numba") from None
        if name == "paired":  # defined with an LLVM intrinsic in its own module, compiled at first call
            from smplpix_rt.body.pair_kernel import paired_matvec

            kernel = _KERNELS[name] = paired_matvec
            return kernel
        source = {"matvec": _matvec_kernel, "skin": _skin_kernel, "blendshapes": _blendshapes_kernel}[name]
        kernel = _KERNELS[name] = numba.njit(nogil=True, cache=True, fastmath=True)(source)
    return kernel


def _matvec_kernel(x, rows, blocks, scales, out):  # pragma: no cover - compiled by Numba
    # rows.shape[0] is a multiple of 4 (see QuantizedMatrix.matvec).
    n_blocks, _, width = blocks.shape
    acc = np.empty(width, np.float32)
    for b in range(n_blocks):
        acc[:] = 0.0
        block = blocks[b]
        # Four rows per pass over the accumulators: a quarter of the accumulator loads and stores.
        for r in range(0, rows.shape[0], 4):
            x0, x1, x2, x3 = x[r], x[r + 1], x[r + 2], x[r + 3]
            a0, a1, a2, a3 = block[rows[r]], block[rows[r + 1]], block[rows[r + 2]], block[rows[r + 3]]
            for j in range(width):  # vectorized: int16 -> float32 multiply-adds
                acc[j] += (x0 * np.float32(a0[j]) + x1 * np.float32(a1[j])) + (
                    x2 * np.float32(a2[j]) + x3 * np.float32(a3[j])
                )
        base = b * width
        for j in range(width):
            out[base + j] = acc[j] * scales[base + j]


def _skin_kernel(rest, rest_n, offsets, no_offsets, index, weight, t, shift, out_v, out_n):  # pragma: no cover
    n_vertices, width = index.shape
    for v in range(n_vertices):
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = m8 = m9 = m10 = m11 = np.float32(0.0)
        for k in range(width):
            w = weight[v, k]
            if w == 0.0:  # non-zeros come first (see padded_weights)
                break
            j = index[v, k]
            m0 += w * t[j, 0]
            m1 += w * t[j, 1]
            m2 += w * t[j, 2]
            m3 += w * t[j, 3]
            m4 += w * t[j, 4]
            m5 += w * t[j, 5]
            m6 += w * t[j, 6]
            m7 += w * t[j, 7]
            m8 += w * t[j, 8]
            m9 += w * t[j, 9]
            m10 += w * t[j, 10]
            m11 += w * t[j, 11]
        x, y, z = rest[v, 0], rest[v, 1], rest[v, 2]
        if not no_offsets:
            x += offsets[v, 0]
            y += offsets[v, 1]
            z += offsets[v, 2]
        out_v[v, 0] = m0 * x + m1 * y + m2 * z + m3 + shift[0]
        out_v[v, 1] = m4 * x + m5 * y + m6 * z + m7 + shift[1]
        out_v[v, 2] = m8 * x + m9 * y + m10 * z + m11 + shift[2]
        a, b, c = rest_n[v, 0], rest_n[v, 1], rest_n[v, 2]
        nx = m0 * a + m1 * b + m2 * c
        ny = m4 * a + m5 * b + m6 * c
        nz = m8 * a + m9 * b + m10 * c
        norm_sq = nx * nx + ny * ny + nz * nz
        inv = np.float32(1.0) / np.sqrt(max(norm_sq, np.float32(1e-20)))
        out_n[v, 0] = nx * inv
        out_n[v, 1] = ny * inv
        out_n[v, 2] = nz * inv


def _blendshapes_kernel(
    weights,
    deltas,
    moving,
    vertices,
    faces,
    incident_offsets,
    incident_faces,
    moving_rows,
    moving_index,
    affected_rows,
    affected_index,
    out_vertices,
    out_normals,
):  # pragma: no cover - compiled by Numba
    offsets = np.zeros(deltas.shape[1], np.float32)
    for k in range(weights.shape[0]):
        w = weights[k]
        if w != 0.0:  # expressions usually use a few of the blendshapes
            row = deltas[k]
            for j in range(offsets.shape[0]):
                offsets[j] += w * row[j]
    moved = vertices.copy()
    for i in range(moving.shape[0]):
        v = moving[i]
        moved[v, 0] += offsets[3 * i]
        moved[v, 1] += offsets[3 * i + 1]
        moved[v, 2] += offsets[3 * i + 2]
    n_faces = faces.shape[0]
    face_normals = np.empty((n_faces, 3), np.float32)
    for f in range(n_faces):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        ux, uy, uz = moved[b, 0] - moved[a, 0], moved[b, 1] - moved[a, 1], moved[b, 2] - moved[a, 2]
        wx, wy, wz = moved[c, 0] - moved[a, 0], moved[c, 1] - moved[a, 1], moved[c, 2] - moved[a, 2]
        face_normals[f, 0] = uy * wz - uz * wy
        face_normals[f, 1] = uz * wx - ux * wz
        face_normals[f, 2] = ux * wy - uy * wx
    n_affected = incident_offsets.shape[0] - 1
    normals = np.empty((n_affected, 3), np.float32)
    for a in range(n_affected):
        x = y = z = np.float32(0.0)
        for k in range(incident_offsets[a], incident_offsets[a + 1]):
            f = incident_faces[k]
            x += face_normals[f, 0]
            y += face_normals[f, 1]
            z += face_normals[f, 2]
        inv = np.float32(1.0) / np.sqrt(max(x * x + y * y + z * z, np.float32(1e-20)))
        normals[a, 0] = x * inv
        normals[a, 1] = y * inv
        normals[a, 2] = z * inv
    for i in range(moving_rows.shape[0]):
        r, v = moving_rows[i], moving[moving_index[i]]
        out_vertices[r, 0] = moved[v, 0]
        out_vertices[r, 1] = moved[v, 1]
        out_vertices[r, 2] = moved[v, 2]
    for i in range(affected_rows.shape[0]):
        r, a = affected_rows[i], affected_index[i]
        out_normals[r, 0] = normals[a, 0]
        out_normals[r, 1] = normals[a, 1]
        out_normals[r, 2] = normals[a, 2]
