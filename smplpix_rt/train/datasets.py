"""Training datasets: two documented folder layouts, validated on load, held in memory as tensors.

**SMPLpix layout** (SMPLpix's own; used as-is with the ``smplpix`` encoding)::

    DATA/{train,validation,test}/input/NAME.png    rasterized body (RGB, white background)
    DATA/{train,validation,test}/output/NAME.png   target photo, same NAME and same size

Inputs and targets pair by identical file name. The generator reads the input's RGB; the mask
plane channel is 1 where the input is not white.

**Frames + fits layout** (ours; inputs are rasterized by our own renderer, so the viewer sees
exactly what the generator was trained on)::

    DATA/dataset.json                     {"format": "smplpix-rt-frames", "format_version": 1,
                                           "body_model": "anny", ...}
    DATA/{train,validation,test}/fits.json
        {"frames": [{"image": "images/000000.png",
                     "body": {... body parameters as in the avatar state file ...},
                     "camera": {"width": 256, "height": 256, "fx": ..., "fy": ..., "cx": ...,
                                "cy": ..., "rotation": [[3x3]], "translation": [3],
                                "near": 0.05, "far": 100.0}}, ...]}
    DATA/{train,validation,test}/images/*.png   target photos (RGB), paths relative to the split

``body`` uses the layout of :mod:`smplpix_rt.state` (pose in degrees by joint name, shape and
expression by name, translation in metres). ``camera`` is an OpenCV pinhole camera
(:class:`smplpix_rt.camera.Camera`: x_cam = R x_world + t, pixel centres at integer
coordinates, row 0 at the top). All frames of a dataset share one image size.

Every problem (missing split folder, unpaired or mismatched images, unreadable PNG, malformed
fits) raises :class:`InputError` naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smplpix_rt.camera import Camera
from smplpix_rt.contracts import BodyParams
from smplpix_rt.errors import InputError

FORMAT_NAME = "smplpix-rt-frames"
FORMAT_VERSION = 1
DATASET_FILE = "dataset.json"
FITS_FILE = "fits.json"
IMAGES_DIR = "images"
SPLITS = ("train", "validation", "test")
LAYOUT_SMPLPIX = "smplpix"
LAYOUT_FRAMES = "frames"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


# -- images --------------------------------------------------------------------------------------


def read_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image file as (H, W, 3) uint8 RGB.

    Args:
        path: image file.
        size: expected (width, height), or None.

    Raises:
        InputError: the file is missing, not a decodable image, or has another size.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            rgb = np.array(image.convert("RGB"))
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"image {path} is not a readable image ({exc})") from None
    if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
        raise InputError(
            f"image {path} is {rgb.shape[1]}x{rgb.shape[0]} pixels, expected {size[0]}x{size[1]} like the rest"
        )
    return rgb


# -- layout detection ----------------------------------------------------------------------------


def detect_layout(root: Path) -> str:
    """``"frames"`` (has ``dataset.json``) or ``"smplpix"`` (has ``train/input``).

    Raises:
        InputError: the folder is missing or in neither layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dataset folder {root} does not exist")
    if (root / DATASET_FILE).is_file():
        return LAYOUT_FRAMES
    if any((root / split / "input").is_dir() for split in SPLITS):
        return LAYOUT_SMPLPIX
    raise InputError(
        f"{root} is not a dataset: expected {DATASET_FILE} (frames + fits layout) or "
        "train/input + train/output folders (SMPLpix layout)"
    )


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset folder holds.

    Attributes:
        root: the folder.
        layout: ``"frames"`` or ``"smplpix"``.
        body_model: body model of the fits (``"smplx"`` for the SMPLpix layout).
        description: the parsed ``dataset.json`` (empty for the SMPLpix layout).
    """

    root: Path
    layout: str
    body_model: str
    description: dict


def read_dataset_info(root: Path) -> DatasetInfo:
    """Detect the layout and read ``dataset.json`` if there is one.

    Raises:
        InputError: unknown layout, unreadable or unsupported ``dataset.json``.
    """
    root = Path(root)
    layout = detect_layout(root)
    if layout == LAYOUT_SMPLPIX:
        return DatasetInfo(root, layout, "smplx", {})
    path = root / DATASET_FILE
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT_NAME:
        raise InputError(f'{path}: expected "format": "{FORMAT_NAME}"')
    if description.get("format_version") != FORMAT_VERSION:
        found = description.get("format_version")
        raise InputError(f"{path}: format_version {found!r} is not supported (this reads {FORMAT_VERSION})")
    body_model = description.get("body_model")
    if not isinstance(body_model, str) or not body_model:
        raise InputError(f'{path}: "body_model" must name the body model of the fits, e.g. "anny"')
    return DatasetInfo(root, layout, body_model, description)


def split_dir(root: Path, split: str) -> Path:
    """The folder of one split. Raises :class:`InputError` if it is missing."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    path = Path(root) / split
    if not path.is_dir():
        raise InputError(f"dataset {root} has no {split!r} split: folder {path} is missing")
    return path


# -- SMPLpix layout ------------------------------------------------------------------------------


def smplpix_pairs(root: Path, split: str) -> list[tuple[str, Path, Path]]:
    """(name, input, output) of every pair of one split of a SMPLpix-layout dataset, sorted by name.

    Raises:
        InputError: a missing folder, an empty split, or names present on one side only.
    """
    folder = split_dir(root, split)
    sides = {}
    for side in ("input", "output"):
        path = folder / side
        if not path.is_dir():
            raise InputError(f"SMPLpix dataset split {folder} lacks its {side}/ folder")
        sides[side] = {p.name: p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES}
    inputs, outputs = sides["input"], sides["output"]
    only_in, only_out = sorted(set(inputs) - set(outputs)), sorted(set(outputs) - set(inputs))
    if only_in or only_out:
        where = (
            f"{folder / 'input' / only_in[0]} has no output"
            if only_in
            else f"{folder / 'output' / only_out[0]} has no input"
        )
        raise InputError(
            f"SMPLpix dataset {folder}: input and output names differ ({len(only_in)} inputs and "
            f"{len(only_out)} outputs unpaired; {where})"
        )
    if not inputs:
        raise InputError(f"SMPLpix dataset split {folder} has no images")
    return [(name, inputs[name], outputs[name]) for name in sorted(inputs)]


# -- frames + fits layout ------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameFit:
    """One frame of the frames + fits layout.

    Attributes:
        image: path of the target image.
        params: body parameters.
        camera: the camera that took the image.
    """

    image: Path
    params: BodyParams
    camera: Camera


def camera_from_fit(data: object, source: str) -> Camera:
    """A :class:`Camera` from a fits ``camera`` entry. Raises :class:`InputError` naming ``source``."""
    keys = ("width", "height", "fx", "fy", "cx", "cy", "rotation", "translation")
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise InputError(f"{source}: camera needs the keys {', '.join(keys)} (optional: near, far)")
    try:
        width, height = int(data["width"]), int(data["height"])
        values = [float(data[k]) for k in ("fx", "fy", "cx", "cy")]
        rotation = np.asarray(data["rotation"], np.float64)
        translation = np.asarray(data["translation"], np.float64)
        near, far = float(data.get("near", 0.05)), float(data.get("far", 100.0))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: camera values must be numbers ({exc})") from None
    try:
        return Camera(width, height, *values, rotation, translation, near, far)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def read_fits(root: Path, split: str, body) -> list[FrameFit]:
    """Parse and validate ``<split>/fits.json`` against ``body``.

    Raises:
        InputError: missing or malformed fits, unknown parameter names, missing images, or
            cameras of different sizes.
    """
    from smplpix_rt.state import params_from_dict

    folder = split_dir(root, split)
    path = folder / FITS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"dataset split {folder} lacks {FITS_FILE}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc})") from None
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list) or not frames:
        raise InputError(f'{path}: expected {{"frames": [...]}} with at least one frame')
    fits, size = [], None
    for i, frame in enumerate(frames):
        source = f"{path} frame {i}"
        if not isinstance(frame, dict) or not isinstance(frame.get("image"), str) or "body" not in frame:
            raise InputError(f'{source}: needs "image" (a path), "body" and "camera"')
        if not isinstance(frame["body"], dict):
            raise InputError(f'{source}: "body" must be an object of body parameters')
        params = params_from_dict(body, frame["body"], source)
        camera = camera_from_fit(frame.get("camera"), source)
        if size is None:
            size = (camera.width, camera.height)
        elif (camera.width, camera.height) != size:
            raise InputError(f"{source}: camera is {camera.width}x{camera.height}, earlier frames {size[0]}x{size[1]}")
        image = folder / frame["image"]
        if not image.is_file():
            raise InputError(f"{source}: image {image} does not exist")
        fits.append(FrameFit(image, params, camera))
    return fits


# -- tensors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitTensors:
    """One split in memory.

    Attributes:
        planes: (N, 4 * P, H, W) float16 G-buffer planes, P planes of 4 channels each
            (the render targets are half floats, so nothing is lost).
        targets: (N, 3, H, W) uint8 target images.
        names: N frame names (image file names).
        encoding: the G-buffer encoding of ``planes``.
    """

    planes: torch.Tensor
    targets: torch.Tensor
    names: tuple[str, ...]
    encoding: str

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the images."""
        return int(self.targets.shape[2]), int(self.targets.shape[3])

    def planes_of(self, index: int) -> tuple[np.ndarray, ...]:
        """Frame ``index`` as the runtimes take it: a tuple of (H, W, 4) float32 planes."""
        p = self.planes[index].float().numpy()
        return tuple(np.ascontiguousarray(p[i : i + 4].transpose(1, 2, 0)) for i in range(0, p.shape[0], 4))


def _progress(iterable, total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", disable=not enabled or None, leave=False)


def _load_smplpix(root: Path, split: str, limit: int | None, progress: bool) -> SplitTensors:
    pairs = smplpix_pairs(root, split)[:limit]
    first = read_image(pairs[0][1])
    height, width = first.shape[:2]
    planes = torch.empty((len(pairs), 4, height, width), dtype=torch.float16)
    targets = torch.empty((len(pairs), 3, height, width), dtype=torch.uint8)
    for i, (_, inp, out) in enumerate(_progress(pairs, len(pairs), f"load {split}", progress)):
        rgb = read_image(inp, (width, height))
        target = read_image(out, (width, height))
        x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        planes[i, :3] = x
        planes[i, 3] = (x < 254.5 / 255.0).any(0)
        targets[i] = torch.from_numpy(target).permute(2, 0, 1)
    return SplitTensors(planes, targets, tuple(name for name, _, _ in pairs), "smplpix")


def _load_frames(root: Path, split: str, encoding: str, body, ctx, limit: int | None, progress: bool) -> SplitTensors:
    from smplpix_rt.raster.context import create_headless_context
    from smplpix_rt.raster.renderer import GBufferRenderer

    fits = read_fits(root, split, body)[:limit]
    width, height = fits[0].camera.width, fits[0].camera.height
    own_ctx = ctx is None
    ctx = create_headless_context() if own_ctx else ctx
    try:
        with GBufferRenderer(ctx, width, height, encoding=encoding) as renderer:
            count = renderer.encoding.num_targets
            planes = torch.empty((len(fits), 4 * count, height, width), dtype=torch.float16)
            targets = torch.empty((len(fits), 3, height, width), dtype=torch.uint8)
            for i, fit in enumerate(_progress(fits, len(fits), f"rasterize {split}", progress)):
                gbuffer = renderer.render(body.forward(fit.params), fit.camera)
                stacked = np.concatenate(gbuffer.planes, axis=2).transpose(2, 0, 1)
                planes[i] = torch.from_numpy(np.ascontiguousarray(stacked))
                targets[i] = torch.from_numpy(read_image(fit.image, (width, height))).permute(2, 0, 1)
    finally:
        if own_ctx:
            ctx.release()
    return SplitTensors(planes, targets, tuple(f.image.name for f in fits), encoding)


def load_split(
    root: Path,
    split: str,
    encoding: str | None = None,
    body=None,
    ctx=None,
    limit: int | None = None,
    progress: bool = True,
) -> SplitTensors:
    """Read (and for the frames layout rasterize) one split into memory.

    Args:
        root: dataset folder (either layout).
        split: ``"train"``, ``"validation"`` or ``"test"``.
        encoding: G-buffer encoding to rasterize (frames layout; default ``"neural"``). The
            SMPLpix layout only provides ``"smplpix"``.
        body: the body model of the fits (frames layout); None loads ``dataset.json``'s.
        ctx: moderngl context to rasterize in; None creates (and releases) a headless one.
        limit: read only the first ``limit`` frames.
        progress: show a progress bar.

    Raises:
        InputError: any problem with the folder or its files (the message names the file), or an
            encoding the layout cannot provide.
    """
    info = read_dataset_info(root)
    if info.layout == LAYOUT_SMPLPIX:
        if encoding not in (None, "smplpix"):
            raise InputError(
                f"{root} is a SMPLpix-layout dataset: its inputs are in the 'smplpix' encoding, not {encoding!r}"
            )
        return _load_smplpix(Path(root), split, limit, progress)
    if body is None:
        from smplpix_rt.body import load_body_model

        body = load_body_model(info.body_model)
    elif body.spec.name != info.body_model:
        raise InputError(f"{root} holds fits of the {info.body_model!r} body, not {body.spec.name!r}")
    return _load_frames(Path(root), split, encoding or "neural", body, ctx, limit, progress)


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DATASET_FILE",
    "FITS_FILE",
    "IMAGES_DIR",
    "SPLITS",
    "LAYOUT_SMPLPIX",
    "LAYOUT_FRAMES",
    "DatasetInfo",
    "FrameFit",
    "SplitTensors",
    "read_image",
    "detect_layout",
    "read_dataset_info",
    "split_dir",
    "smplpix_pairs",
    "camera_from_fit",
    "read_fits",
    "load_split",
]
