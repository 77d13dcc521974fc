"""SMPL-X through the ``smplx`` package, with our own cached skinning.

``smplx`` (imported lazily) only loads the model file; :class:`SmplxBody` keeps its buffers and
runs linear blend skinning itself so that a pose-only edit skips the shape and expression
blendshapes and the joint regression. Pose correctives (``posedirs``) are applied per pose, and
incrementally: only the joints whose rotation changed since the previous call are multiplied
(a slider drag costs little). With Numba installed, the corrective matrix is stored as int8 (x86-64
with AVX2) or int16 and skinning runs as one fused loop (:mod:`~smplpix_rt.body.kernels`), which
makes a whole new pose ~2.3x (int8) or ~1.5x (int16) cheaper than in float32 through BLAS (see
``corrective_precision``).

Frame: SMPL-X is already metres, +Y up, facing +Z; our output is the ``smplx`` output shifted up
by a per-shape lift that puts the lowest zero-pose vertex on y = 0, plus ``translation``
(which plays the role of ``smplx``'s ``transl``).

Pose: (55, 3) axis-angle radians in ``smplx`` order: global orientation, 21 body joints, jaw,
left eye, right eye, 15 left-hand joints, 15 right-hand joints, all as full axis-angle (no hand
PCA, no hand mean pose: ``smplx.SMPLX(use_pca=False, flat_hand_mean=True)``). SMPL-X's rest pose
is a T-pose; each joint rotates about world-aligned axes at rest, like Anny's ``local-ref``.

Normals are the rest normals of the shaped mesh skinned with the blended transforms (the small
normal changes caused by pose correctives are ignored). No texture coordinates ship in the
``.npz``, so ``topology.uv`` is None.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smplpix_rt.body import kernels as fast_kernels
from smplpix_rt.body import skinning as sk
from smplpix_rt.body.base import BodyModel
from smplpix_rt.body.pose_limits import smplx_pose_limits
from smplpix_rt.contracts import BodyParams, BodySpec, Mesh, MeshTopology
from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError

NUM_JOINTS = 55
SHAPE_RANGE = 3.0
EXPRESSION_RANGE = 3.0
_DOWNLOAD_HINT = "SMPL-X model files are licensed: register at https://smpl-x.is.tue.mpg.de and download them there"


def resolve_model_file(model_path: str | Path, gender: str = "neutral") -> Path:
    """The SMPL-X file for a folder or file path.

    A folder is searched for ``SMPLX_<GENDER>.npz`` then ``.pkl``, also inside a ``smplx/`` subfolder.

    Raises:
        InputError: unknown gender.
        ModelFileError: nothing suitable is there (the message names the expected file).
    """
    if gender not in ("neutral", "male", "female"):
        raise InputError(f"SMPL-X gender must be 'neutral', 'male' or 'female', got {gender!r}")
    path = Path(model_path).expanduser()
    expected = f"SMPLX_{gender.upper()}.npz"
    if path.is_dir():
        for folder in (path, path / "smplx"):
            for ext in ("npz", "pkl"):
                candidate = folder / f"SMPLX_{gender.upper()}.{ext}"
                if candidate.is_file():
                    return candidate
        raise ModelFileError(f"no {expected} (or .pkl) in {path}; {_DOWNLOAD_HINT}")
    if not path.is_file():
        raise ModelFileError(f"SMPL-X model file {path} not found (expected e.g. {expected}); {_DOWNLOAD_HINT}")
    if path.suffix not in (".npz", ".pkl"):
        raise ModelFileError(f"SMPL-X model file {path} must be a .npz or .pkl file such as {expected}")
    return path


@dataclass(frozen=True, eq=False)
class _RestState:
    """Everything that depends on shape and expression only."""

    vertices: torch.Tensor  # (3, V) planar shaped rest vertices
    normals: torch.Tensor  # (3, V) planar unit rest normals
    joints: np.ndarray  # (J, 3) float64 rest joints
    offsets: np.ndarray  # (J, 3) float64 joint offset from the parent (root: its position)
    lift: np.ndarray  # (3,) float64
    vertex_rows: np.ndarray  # (V, 3) float32 shaped rest vertices (Numba kernels)
    normal_rows: np.ndarray  # (V, 3) float32 unit rest normals (Numba kernels)


class _PoseCorrectives:
    """``posedirs`` offsets, updated incrementally.

    The offsets are linear in the pose features, so an edit adds ``(new - old) @ rows`` for the
    joints whose rotation changed; every 64th incremental update recomputes the full product so
    rounding never accumulates. ``precision`` picks the matrix: ``"int8"``
    (:class:`~smplpix_rt.body.kernels.PairedInt8Matrix`), ``"int16"``
    (:class:`~smplpix_rt.body.kernels.QuantizedMatrix`), or ``"float32"`` through BLAS.
    """

    def __init__(self, posedirs: np.ndarray, precision: str) -> None:
        # posedirs: (P*9, V*3) float32, columns vertex-major (x, y, z of vertex 0, then vertex 1, ...).
        self.num = posedirs.shape[0] // 9
        self.precision = precision
        matrices = {"int8": fast_kernels.PairedInt8Matrix, "int16": fast_kernels.QuantizedMatrix}
        self.quantized = matrices[precision].from_dense(posedirs) if precision in matrices else None
        self.dense = None if self.quantized is not None else np.ascontiguousarray(posedirs, np.float32)
        self.features = np.zeros((self.num, 9), np.float32)
        self.total = np.zeros(posedirs.shape[1], np.float32)
        self._updates = 0

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(V, 3) offsets for (P, 9) pose features (rotation minus identity per joint)."""
        changed = np.flatnonzero((features != self.features).any(1))
        if changed.size == self.num or (changed.size and self._updates >= 63):
            self.total = self._product(features.reshape(-1), None)
            self._updates = 0
        elif changed.size:
            rows = (changed[:, None] * 9 + np.arange(9)).reshape(-1)
            self.total += self._product((features[changed] - self.features[changed]).reshape(-1), rows)
            self._updates += 1
        self.features = features.copy()
        return self.total.reshape(-1, 3)

    def _product(self, x: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        if self.quantized is not None:
            return self.quantized.matvec(x, rows)
        dense = self.dense if rows is None else self.dense[rows]
        # Through PyTorch, on the caller's intra-op threads: NumPy's matmul would wake its own BLAS
        # threads, which keep spinning on the cores a generator needs.
        return (torch.from_numpy(x.astype(np.float32)) @ torch.from_numpy(dense)).numpy()


def resolve_corrective_precision(precision: str, kernels: str) -> str:
    """Resolve ``SmplxBody``'s ``corrective_precision`` for the resolved ``kernels``.

    ``"auto"`` is ``"int8"`` where its kernel runs (Numba on an x86-64 CPU with AVX2), else
    ``"int16"`` with Numba, else ``"float32"``.

    Raises:
        InputError: an unknown precision.
        BackendUnavailableError: a precision whose kernel cannot run here.
    """
    choices = ("auto", "int8", "int16", "float32")
    if precision not in choices:
        raise InputError(f"corrective_precision must be one of {', '.join(map(repr, choices))}, got {precision!r}")
    if precision == "auto":
        if kernels != "numba":
            return "float32"
        return "int8" if fast_kernels.paired_available() else "int16"
    if precision == "int16" and not fast_kernels.available():
        raise BackendUnavailableError("int16 pose correctives need Numba: pip install numba")
    if precision == "int8" and not fast_kernels.paired_available():
        raise BackendUnavailableError(
            "int8 pose correctives need Numba and an x86-64 CPU with AVX2 (and NUMBA_CPU_NAME unset); "
            "use corrective_precision='int16'"
        )
    return precision


class SmplxBody(BodyModel):
    """SMPL-X (see the module docstring for frames and pose semantics).

    Not thread-safe: the cached rest state and pose correctives belong to one caller at a time.

    Args:
        model_path: folder holding ``SMPLX_<GENDER>.npz`` / ``.pkl``, or the file itself.
        gender: ``"neutral"``, ``"male"`` or ``"female"``.
        num_betas: shape coefficients to use (capped at what the file has; 10 for 10+10 files).
        num_expression: expression coefficients to use (capped likewise).
        vertex_colors: optional (V, 3) fixed per-vertex colours in [0, 1] (uint8 is scaled); by
            default each axis of the mean-shape T-pose is stretched to [0, 1].
        threads: PyTorch intra-op threads used by ``forward`` (default 1, see
            :func:`~smplpix_rt.body.skinning.torch_threads`); None keeps the process setting.
        pose_correctives: apply ``posedirs`` (default). They cost most of a full-pose update
            (486 x 3V multiply-adds); switch them off for speed when the small corrective bulges
            (e.g. at elbows and knees) do not matter.
        kernels: ``"numba"``: fused float32 skinning in one loop (see
            :mod:`~smplpix_rt.body.kernels`); ``"torch"``: PyTorch skinning; ``"auto"`` (default):
            ``"numba"`` when Numba is installed.
        corrective_precision: how the pose-corrective matrix is stored and multiplied.
            ``"int8"``: integer multiply-adds on int8 entries with per-column scales and 15-bit
            inputs (an entry rounds by up to ``max|column| / 254``); needs Numba and an x86-64
            CPU with AVX2. ``"int16"``: int16 entries (``max|column| / 65534``) in float32
            arithmetic, Numba. ``"float32"``: the file's values through BLAS. ``"auto"``
            (default): int8 where it runs, else int16 with Numba kernels, else float32. A whole
            new pose on the reference box (one core, full-size generated file, skinning
            included; two runs): float32 2.9–3.5 ms, int16 1.9–2.2 ms, int8 1.2–1.5 ms. On that
            file's random-noise correctives int8 moved vertices by up to 0.3 mm against
            ``smplx``; pick int16 or float32 when the mesh itself is the product (e.g. exported),
            not its rendering.

    Raises:
        BackendUnavailableError: the ``smplx`` package is not installed.
        ModelFileError: the file is missing, unreadable or not an SMPL-X model.
        InputError: bad gender, counts or vertex colours.
    """

    def __init__(
        self,
        model_path: str | Path,
        gender: str = "neutral",
        num_betas: int = 10,
        num_expression: int = 10,
        vertex_colors: np.ndarray | None = None,
        threads: int | None = 1,
        pose_correctives: bool = True,
        kernels: str = "auto",
        corrective_precision: str = "auto",
    ) -> None:
        _check_threads(threads)
        self.kernels = fast_kernels.choose(kernels)
        self.corrective_precision = resolve_corrective_precision(corrective_precision, self.kernels)
        if num_betas < 1 or num_expression < 0:
            raise InputError(f"SMPL-X needs num_betas >= 1 and num_expression >= 0, got {num_betas}, {num_expression}")
        self.path = resolve_model_file(model_path, gender)
        self.gender = gender
        self.threads = threads
        self.pose_correctives = pose_correctives
        model = _load_smplx(self.path, gender, num_betas, num_expression)
        self._take_buffers(model)
        if model.num_betas < num_betas or model.num_expression_coeffs < num_expression:
            warnings.warn(
                f"{self.path.name} has {model.num_betas} shape and {model.num_expression_coeffs} expression "
                f"coefficients; using those instead of {num_betas} and {num_expression}",
                stacklevel=2,
            )
        self.spec = self._make_spec(model)
        self.tree = sk.KinematicTree.from_parents(self.spec.joint_parents)
        self._rest_key: bytes | None = None
        self._rest: _RestState | None = None
        self.topology = self._make_topology(vertex_colors)

    # ------------------------------------------------------------------ public API

    def forward(self, params: BodyParams) -> Mesh:
        """Posed mesh. Raises :class:`InputError` on invalid parameters."""
        p = self.validate(params)
        with sk.torch_threads(self.threads), torch.inference_mode():
            rest = self._rest_for(p.shape, p.expression)
            rotations = sk.axis_angle_to_matrix(p.pose.astype(np.float64))
            features = (rotations[1:] - np.eye(3)).reshape(-1, 9).astype(np.float32)
            correctives = self._correctives(features) if self.pose_correctives else None
            world = self.tree.chain(sk.rigid(rotations, rest.offsets))
            transforms = sk.skinning_transforms(world, None, rest.joints)
            if self.kernels == "numba":
                shift = (rest.lift + p.translation).astype(np.float32)
                vertices, normals = fast_kernels.skin(
                    rest.vertex_rows, rest.normal_rows, correctives, *self._padded_weights, transforms, shift
                )
                return Mesh(vertices=vertices, normals=normals, topology=self.topology)
            posed_rest = rest.vertices
            if correctives is not None:
                posed_rest = posed_rest + torch.from_numpy(correctives).t()
            blended = sk.blend_transforms(self._weights, transforms)
            vertices = sk.apply_affine(blended, posed_rest)
            vertices += torch.from_numpy((rest.lift + p.translation).astype(np.float32))[:, None]
            normals = sk.normalize_planar(sk.apply_linear(blended, rest.normals))
            return Mesh(
                vertices=vertices.t().contiguous().numpy(),
                normals=normals.t().contiguous().numpy(),
                topology=self.topology,
            )

    def joints(self, params: BodyParams) -> np.ndarray:
        """(J, 3) float32 posed joint positions in the world frame."""
        p = self.validate(params)
        with sk.torch_threads(self.threads), torch.inference_mode():
            rest = self._rest_for(p.shape, p.expression)
        world = self.tree.chain(sk.rigid(sk.axis_angle_to_matrix(p.pose.astype(np.float64)), rest.offsets))
        return (world[:, :3, 3] + rest.lift + p.translation).astype(np.float32)

    def ground_lift(self, shape: np.ndarray, expression: np.ndarray | None = None) -> float:
        """Vertical offset (m) added to the ``smplx`` output so that the zero-pose feet touch y = 0."""
        expression = np.zeros(self.spec.num_expression, np.float32) if expression is None else expression
        p = self.validate(self.default_params().replace(shape=shape, expression=expression))
        with sk.torch_threads(self.threads), torch.inference_mode():
            return float(self._rest_for(p.shape, p.expression).lift[1])

    # ------------------------------------------------------------------ setup

    def _take_buffers(self, model) -> None:
        v = model.v_template.shape[0]
        self._num_vertices = v
        self._template = model.v_template.detach().float()
        dirs = torch.cat([model.shapedirs, model.expr_dirs], -1).detach().float()  # (V, 3, S + E)
        self._shape_dirs = dirs.permute(2, 1, 0).reshape(dirs.shape[-1], 3 * v).contiguous()  # planar rows
        self._regressor = model.J_regressor.detach().float()
        self._correctives = _PoseCorrectives(model.posedirs.detach().float().numpy(), self.corrective_precision)
        dense_weights = model.lbs_weights.detach().float().numpy()
        self._weights = sk.SparseWeights.from_dense(dense_weights)
        self._padded_weights = fast_kernels.padded_weights(dense_weights)
        self._faces = np.asarray(model.faces, np.int64)
        self._normals = sk.VertexNormals.from_faces(self._faces, v)
        self._parents = model.parents.detach().numpy().astype(np.int64)
        self._num_betas = int(model.num_betas)
        self._num_expression = int(model.num_expression_coeffs)

    def _make_spec(self, model) -> BodySpec:
        from smplx.joint_names import JOINT_NAMES

        nb, ne = self._num_betas, self._num_expression
        digest = hashlib.sha1(self._template.numpy().tobytes() + self._faces.tobytes())
        digest.update(self._shape_dirs.numpy().tobytes())
        return BodySpec(
            name="smplx",
            version=f"smplx-{self.gender}-{nb}b{ne}e-{digest.hexdigest()[:12]}",
            joint_names=tuple(JOINT_NAMES[:NUM_JOINTS]),
            joint_parents=self._parents,
            shape_names=tuple(f"beta{i}" for i in range(nb)),
            shape_ranges=np.tile(np.array([-SHAPE_RANGE, SHAPE_RANGE], np.float32), (nb, 1)),
            shape_defaults=np.zeros(nb, np.float32),
            expression_names=tuple(f"expression{i}" for i in range(ne)),
            expression_ranges=np.tile(np.array([-EXPRESSION_RANGE, EXPRESSION_RANGE], np.float32), (ne, 1)),
            pose_limits_deg=smplx_pose_limits(JOINT_NAMES[:NUM_JOINTS]),
        )

    def _make_topology(self, vertex_colors: np.ndarray | None) -> MeshTopology:
        canonical = self._template.numpy().astype(np.float64)
        lo, hi = canonical.min(0), canonical.max(0)
        # Same conventions as Anny: bounding-box centre, largest half-extent scaled to 1.
        rest_coords = (canonical - (lo + hi) / 2) / ((hi - lo).max() / 2)
        if vertex_colors is None:
            colors = (canonical - lo) / (hi - lo)
        else:
            colors = np.asarray(vertex_colors)
            if colors.shape != (self._num_vertices, 3):
                raise InputError(f"SMPL-X vertex_colors must have shape ({self._num_vertices}, 3), got {colors.shape}")
            colors = colors / 255.0 if colors.dtype == np.uint8 else colors
            if not np.isfinite(colors).all() or colors.min() < 0 or colors.max() > 1:
                raise InputError("SMPL-X vertex_colors must lie in [0, 1] (or be uint8)")
        return MeshTopology(
            faces=self._faces.astype(np.int32),
            rest_coords=rest_coords.astype(np.float32),
            uv=None,
            vertex_colors=np.asarray(colors, np.float32),
            closed=sk.is_closed_surface(self._faces),
        )

    # ------------------------------------------------------------------ rest state

    def _rest_for(self, shape: np.ndarray, expression: np.ndarray) -> _RestState:
        key = shape.tobytes() + expression.tobytes()
        if key != self._rest_key:
            self._rest = self._rest_state(shape, expression)
            self._rest_key = key
        return self._rest

    def _rest_state(self, shape: np.ndarray, expression: np.ndarray) -> _RestState:
        coeffs = torch.from_numpy(np.concatenate([shape, expression]).astype(np.float32))
        planar = self._template.t() + (coeffs @ self._shape_dirs).reshape(3, -1)
        shaped = planar.t().contiguous()
        joints = (self._regressor @ shaped).numpy().astype(np.float64)
        offsets = joints - joints[np.maximum(self._parents, 0)]
        offsets[0] = joints[0]
        normals = self._normals(shaped)
        lift = np.array([0.0, -float(shaped[:, 1].min()), 0.0])  # zero pose leaves the shaped mesh as is
        return _RestState(
            vertices=planar.contiguous(),
            normals=normals.t().contiguous(),
            joints=joints,
            offsets=offsets,
            lift=lift,
            vertex_rows=shaped.numpy(),
            normal_rows=normals.contiguous().numpy(),
        )


def _check_threads(threads: int | None) -> None:
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads must be a positive integer or None, got {threads!r}")


def _load_smplx(path: Path, gender: str, num_betas: int, num_expression: int):
    try:
        import smplx
    except ImportError:
        raise BackendUnavailableError("the SMPL-X body needs the smplx package: pip install smplx") from None
    try:
        # smplx prints a notice for 10+10-direction files; keep library output off stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            model = smplx.SMPLX(
                str(path),
                gender=gender,
                num_betas=num_betas,
                num_expression_coeffs=num_expression,
                use_pca=False,
                flat_hand_mean=True,
                ext=path.suffix[1:],
            )
    except Exception as exc:  # pickle / zip / key errors from a wrong or corrupt file
        raise ModelFileError(f"could not load SMPL-X model {path}: {type(exc).__name__}: {exc}") from None
    if model.J_regressor.shape[0] != NUM_JOINTS or model.lbs_weights.shape[1] != NUM_JOINTS:
        raise ModelFileError(
            f"{path} is not an SMPL-X model: it has {model.J_regressor.shape[0]} joints, expected {NUM_JOINTS}"
        )
    return model
