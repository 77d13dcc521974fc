"""Anny at run time, from the baked file and without the ``anny`` package.

:class:`AnnyBody` reproduces ``anny.Anny(facial_actions="all")`` (compact phenotype blendshapes,
``cached`` bone orientations, ``local-ref`` pose parameterization, linear blend skinning) to well
under a millimetre, in our world frame.

World frame: metres, +Y up, the body faces +Z, its left side is +X (Anny's own frame is Z-up
facing -Y; the bake rotates everything by -90 degrees about X). At zero pose the lowest vertex
touches y = 0 for every shape (a per-shape vertical lift; ``translation`` is added on top).

Pose (J = 104 bones, Anny's bone order, ``spec.joint_names``), axis-angle radians per row:

* row 0 rotates the whole body about the root joint (the pelvis), in world axes;
* every other row is Anny's ``local-ref`` rotation of that bone: a rotation about the bone's
  head in axes that are world-aligned at zero pose and follow the parent's rotation, expressed
  in our frame (Anny's rotation vector r_anny maps to ours as ``(x, z, -y)``).

Zero pose is Anny's reference pose, which differs from the rest mesh by a few degrees per bone
(up to ~3 cm at the hands). Both are an **A-pose**: the upper arms hang about 48 degrees below the
horizontal, the elbows are slightly bent with the forearms pointing forwards, legs straight.

Shape is Anny's 6 phenotypes (gender, age, muscle, weight, height, proportions) in [0, 1],
default 0.5; expression is Anny's 52 ARKit-style facial actions in [0, 1], default 0.

Caching: a shape or expression change recomputes the rest mesh, rest normals, bone rest frames and
the ground lift (a few ms); a pose-only change runs forward kinematics and skinning only. Normals
are the rest normals skinned with the same blended transforms, renormalized.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from smplpix_rt.body import kernels as fast_kernels
from smplpix_rt.body import skinning as sk
from smplpix_rt.body.anny_format import AnnyBakeData, load_bake
from smplpix_rt.body.base import BodyModel
from smplpix_rt.body.pose_limits import anny_pose_limits
from smplpix_rt.contracts import BodyParams, BodySpec, Mesh, MeshTopology
from smplpix_rt.errors import InputError

DEFAULT_FILE = "anny_body.npz"


def default_anny_path() -> Path:
    """Where the shipped baked Anny file lives (``models/anny_body.npz``)."""
    from smplpix_rt.resources import models_dir

    try:
        return models_dir() / DEFAULT_FILE
    except FileNotFoundError:
        return Path(__file__).resolve().parents[2] / "models" / DEFAULT_FILE


@dataclass(frozen=True, eq=False)
class _RestState:
    """Everything that depends on shape and expression only (render-vertex order)."""

    vertex_rows: torch.Tensor  # (R, 3) rest vertices
    normal_rows: torch.Tensor  # (R, 3) rest unit normals
    heads: np.ndarray  # (J, 3) float64 rest bone heads
    rest_rotations: np.ndarray  # (J, 3, 3) float64 rest orientation relative to the reference one
    offsets: np.ndarray  # (J, 3) float64 head offset from the parent, in the parent's reference frame
    lift: np.ndarray  # (3,) float64 vertical offset putting the zero-pose feet on y = 0

    @functools.cached_property
    def vertices(self) -> torch.Tensor:
        """(3, R) planar rest vertices (the PyTorch skinning path)."""
        return self.vertex_rows.t().contiguous()

    @functools.cached_property
    def normals(self) -> torch.Tensor:
        """(3, R) planar rest unit normals (the PyTorch skinning path)."""
        return self.normal_rows.t().contiguous()


class AnnyBody(BodyModel):
    """The Anny body from a baked file (see the module docstring for frames and pose semantics).

    Not thread-safe: the cached rest state belongs to one caller at a time.

    Args:
        path: baked file; default ``models/anny_body.npz``.
        threads: PyTorch intra-op threads used by ``forward`` (default 1, see
            :func:`~smplpix_rt.body.skinning.torch_threads`); None keeps the process setting.
        kernels: ``"numba"``: skin in one fused float32 loop
            (:func:`~smplpix_rt.body.kernels.skin`) and apply facial actions in one pass over the
            face (:class:`~smplpix_rt.body.kernels.LocalBlendshapes`); ``"torch"``: PyTorch
            ``embedding_bag`` and planar multiply-adds; ``"auto"`` (default): ``"numba"`` when
            Numba is installed. Both give the same mesh up to float32 rounding.

    Raises:
        ModelFileError: the file is missing or not a baked Anny file of this format version.
        InputError: bad ``threads`` or ``kernels``.
        BackendUnavailableError: ``kernels="numba"`` without Numba.
    """

    def __init__(self, path: str | Path | None = None, threads: int | None = 1, kernels: str = "auto") -> None:
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be a positive integer or None, got {threads!r}")
        self.kernels = fast_kernels.choose(kernels)
        self.path = Path(path) if path is not None else default_anny_path()
        self.threads = threads
        data = load_bake(self.path)
        self._data = data
        self.spec = _make_spec(data)
        self.tree = sk.KinematicTree.from_parents(data.bone_parents)
        self._load_arrays(data)
        self._rest_key: bytes | None = None
        self._rest: _RestState | None = None
        self._shape_key: bytes | None = None
        self._shape: tuple[torch.Tensor, torch.Tensor, _RestState] | None = None
        self.topology = self._make_topology()

    # ------------------------------------------------------------------ public API

    def forward(self, params: BodyParams) -> Mesh:
        """Posed mesh in render-vertex order. Raises :class:`InputError` on invalid parameters."""
        p = self.validate(params)
        with sk.torch_threads(self.threads), torch.inference_mode():
            rest = self._rest_for(p.shape, p.expression)
            world = self._world_frames(rest, p.pose)
            vertices, normals = self._skin(rest, world, rest.lift + p.translation)
        return Mesh(vertices=vertices, normals=normals, topology=self.topology)

    def joints(self, params: BodyParams) -> np.ndarray:
        """(J, 3) float32 posed bone heads in the world frame (the rotation pivots)."""
        p = self.validate(params)
        with sk.torch_threads(self.threads), torch.inference_mode():
            rest = self._rest_for(p.shape, p.expression)
        world = self._world_frames(rest, p.pose)
        return (world[:, :3, 3] + rest.lift + p.translation).astype(np.float32)

    def ground_lift(self, shape: np.ndarray, expression: np.ndarray | None = None) -> float:
        """Vertical offset (m) added to Anny's output so that the zero-pose feet touch y = 0."""
        expression = np.zeros(self.spec.num_expression, np.float32) if expression is None else expression
        p = self.validate(self.default_params().replace(shape=shape, expression=expression))
        with sk.torch_threads(self.threads), torch.inference_mode():
            return float(self._rest_for(p.shape, p.expression).lift[1])

    @property
    def bake(self) -> AnnyBakeData:
        """The baked arrays this body was loaded from."""
        return self._data

    # ------------------------------------------------------------------ setup

    def _load_arrays(self, d: AnnyBakeData) -> None:
        t = torch.from_numpy
        j = d.num_bones
        self._template = t(d.template_vertices.astype(np.float32))
        self._basis = t(d.phenotype_vertex_basis.astype(np.float32).reshape(d.num_phenotype_coefficients, -1))
        self._mix = d.phenotype_vertex_mix.astype(np.float64)
        self._face_index = t(d.face_vertex_indices.astype(np.int64))
        self._face_deltas = t(d.facial_action_deltas.astype(np.float32).reshape(len(d.facial_action_labels), -1))
        self._head_template = d.template_bone_heads.astype(np.float64)
        self._head_blend = d.bone_head_blendshapes.astype(np.float64).reshape(-1, j * 3)
        self._orient_template = d.bone_orientation_template.astype(np.float64)
        self._orient_blend = d.bone_orientation_blendshapes.astype(np.float64).reshape(-1, j * 9)
        self._reference = d.reference_orientations.astype(np.float64)
        self._parents = np.maximum(d.bone_parents, 0).astype(np.int64)
        self._normals = sk.VertexNormals.from_faces(d.faces, d.num_vertices)
        self._face_normals = sk.LocalNormals.around(d.faces, d.num_vertices, d.face_vertex_indices)
        self._face_patch = (
            fast_kernels.LocalBlendshapes.build(
                d.faces, d.num_vertices, d.face_vertex_indices, self._face_deltas.numpy(), d.render_to_base
            )
            if self.kernels == "numba"
            else None
        )
        self._render_to_base = t(d.render_to_base.astype(np.int64))
        render = d.render_to_base
        self._weights = sk.SparseWeights.from_padded(d.skin_weights[render], d.skin_indices[render], j)
        self._padded_weights = fast_kernels.padded_weights(
            sk.dense_weights(d.skin_weights[render], d.skin_indices[render], j)
        )

    def _make_topology(self) -> MeshTopology:
        d = self._data
        with sk.torch_threads(self.threads), torch.inference_mode():
            rest = self._rest_for(self.spec.shape_defaults, np.zeros(self.spec.num_expression, np.float32))
        canonical = rest.vertices.t().numpy().astype(np.float64)
        lo, hi = canonical.min(0), canonical.max(0)
        # rest_coords: the canonical rest mesh centred on its bounding box and scaled by the largest
        # half-extent (the height), so the tallest axis spans [-1, 1] and proportions are kept.
        rest_coords = (canonical - (lo + hi) / 2) / ((hi - lo).max() / 2)
        # vertex_colors: each axis of the canonical rest mesh stretched to [0, 1] (a smooth, fixed code).
        colors = (canonical - lo) / (hi - lo)
        return MeshTopology(
            faces=np.ascontiguousarray(d.render_faces.astype(np.int32)),
            rest_coords=rest_coords.astype(np.float32),
            uv=d.render_uv.astype(np.float32),
            vertex_colors=colors.astype(np.float32),
            closed=sk.is_closed_surface(d.render_to_base[d.render_faces]),
        )

    # ------------------------------------------------------------------ rest state (shape + expression)

    def _rest_for(self, shape: np.ndarray, expression: np.ndarray) -> _RestState:
        shape_key = np.asarray(shape, np.float32).tobytes()
        key = shape_key + np.asarray(expression, np.float32).tobytes()
        if key != self._rest_key:
            if shape_key != self._shape_key:
                self._shape = self._shape_state(shape)
                self._shape_key = shape_key
            self._rest = self._with_expression(self._shape, expression)
            self._rest_key = key
        return self._rest

    def _shape_state(self, shape: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, _RestState]:
        """Phenotype part of the rest state: the shaped base mesh and its normals (no expression), and the skeleton.

        Facial actions move face vertices only (Anny has no face bones), so an expression edit
        reuses all of this and only adds the face deltas and recomputes the normals around the face.
        """
        coeffs = self._data.phenotype_coefficients(shape)
        weights = torch.from_numpy((coeffs @ self._mix).astype(np.float32))
        base = self._template + (weights @ self._basis).reshape(-1, 3)

        heads = self._head_template + (coeffs @ self._head_blend).reshape(-1, 3)
        covariance = self._orient_template + (coeffs @ self._orient_blend).reshape(-1, 3, 3)
        rest_orient = sk.nearest_rotation(covariance)
        # Rest-to-reference rotation of each bone (Anny's A = U R^T); the root's counts as the
        # identity for its children's offsets, as in Anny's forward kinematics.
        to_reference = self._reference @ np.swapaxes(rest_orient, -1, -2)
        parent_rot = to_reference.copy()
        parent_rot[0] = np.eye(3)
        offsets = (parent_rot[self._parents] @ (heads - heads[self._parents])[:, :, None])[:, :, 0]
        offsets[0] = heads[0]
        base_normals = self._normals(base)
        skeleton = _RestState(
            vertex_rows=base.index_select(0, self._render_to_base),
            normal_rows=base_normals.index_select(0, self._render_to_base),
            heads=heads,
            rest_rotations=np.swapaxes(to_reference, -1, -2),
            offsets=offsets,
            lift=np.zeros(3),
        )
        zero_pose = self._skin(skeleton, self._world_frames(skeleton, np.zeros((self._data.num_bones, 3))), np.zeros(3))
        return base, base_normals, replace(skeleton, lift=np.array([0.0, -float(zero_pose[0][:, 1].min()), 0.0]))

    def _with_expression(
        self, shaped: tuple[torch.Tensor, torch.Tensor, _RestState], expression: np.ndarray
    ) -> _RestState:
        """The rest state with the facial-action deltas added to the shaped base mesh."""
        base, base_normals, skeleton = shaped
        expression = np.asarray(expression, np.float32)
        if not expression.any():
            return skeleton
        if self._face_patch is not None:  # one pass over the face, straight into render order
            rows = self._face_patch.apply(
                expression, base.numpy(), skeleton.vertex_rows.numpy(), skeleton.normal_rows.numpy()
            )
            return replace(skeleton, vertex_rows=torch.from_numpy(rows[0]), normal_rows=torch.from_numpy(rows[1]))
        face = (torch.from_numpy(expression) @ self._face_deltas).reshape(-1, 3)
        base = base.index_add(0, self._face_index, face)
        normals = self._face_normals.update(base_normals, base)
        return replace(
            skeleton,
            vertex_rows=base.index_select(0, self._render_to_base),
            normal_rows=normals.index_select(0, self._render_to_base),
        )

    # ------------------------------------------------------------------ per pose

    def _world_frames(self, rest: _RestState, pose: np.ndarray) -> np.ndarray:
        """(J, 4, 4) float64 posed bone frames [G | w] (G: rotation from the reference frame, w: head)."""
        local = sk.rigid(sk.axis_angle_to_matrix(np.asarray(pose, np.float64)), rest.offsets)
        return self.tree.chain(local)

    def _skin(self, rest: _RestState, world: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(R, 3) float32 vertices (shifted by ``offset``) and unit normals."""
        transforms = sk.skinning_transforms(world, rest.rest_rotations, rest.heads)
        if self.kernels == "numba":
            shift = np.asarray(offset, np.float32)
            rows = rest.vertex_rows.numpy(), rest.normal_rows.numpy()
            return fast_kernels.skin(*rows, None, *self._padded_weights, transforms, shift)
        blended = sk.blend_transforms(self._weights, transforms)
        vertices = sk.apply_affine(blended, rest.vertices)
        vertices += torch.from_numpy(np.asarray(offset, np.float32))[:, None]
        normals = sk.normalize_planar(sk.apply_linear(blended, rest.normals))
        return vertices.t().contiguous().numpy(), normals.t().contiguous().numpy()


def _make_spec(d: AnnyBakeData) -> BodySpec:
    num_shape, num_expr = len(d.phenotype_labels), len(d.facial_action_labels)
    return BodySpec(
        name="anny",
        version=f"anny-{d.anny_version}+bake{d.format_version}-{d.data_hash[:12]}",
        joint_names=d.bone_labels,
        joint_parents=d.bone_parents.astype(np.int64),
        shape_names=d.phenotype_labels,
        shape_ranges=np.tile(np.array([0.0, 1.0], np.float32), (num_shape, 1)),
        shape_defaults=np.full(num_shape, 0.5, np.float32),
        expression_names=d.facial_action_labels,
        expression_ranges=np.tile(np.array([0.0, 1.0], np.float32), (num_expr, 1)),
        pose_limits_deg=anny_pose_limits(d.bone_labels),
    )
