"""Bring an existing SMPLpix avatar: its network checkpoint and SMPL-X vertex colours → ONNX.

SMPLpix saves ``torch.save(unet.state_dict(), "network.h5")`` (a plain state dict despite the
name) with the module names of the ``smplpix-unet`` architecture, and feeds images transposed:
a PNG of H×W pixels enters the network as a (C, W, H) tensor, and the output is transposed back.
Running a network ``f`` on transposed images equals running the network with every convolution
kernel transposed (kh ↔ kw) on the image as it is — max-pooling, ×2 bilinear upsampling, padding
and 1×1 convolutions are symmetric in H and W — so the import transposes the kernels once and
the result is an ordinary ``smplpix-unet`` generator that every runtime runs in our (H, W)
orientation.

The colours file (SMPLpix's ``smplx_verts_colors.txt``) has one ``R G B`` row in 0–255 per
SMPL-X vertex. They are the vertex colours of the ``smplpix`` encoding for this avatar and are
stored in the ONNX metadata under :data:`VERTEX_COLORS_KEY` (base64 of the (V, 3) uint8 array);
:func:`read_vertex_colors` gives them back as the (V, 3) float32 ``MeshTopology.vertex_colors``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smplpix_rt.errors import InputError, ModelFileError
from smplpix_rt.generator.vertex_colors import VERTEX_COLORS_KEY, embed_vertex_colors, read_vertex_colors

#: Vertices of the SMPL-X body (rows of the colours file).
SMPLX_VERTICES = 10475


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_smplpix` wrote.

    Attributes:
        onnx: the generator file (manifest and vertex colours in its metadata).
        colors: (V, 3) float32 vertex colours in [0, 1].
        params: the detected architecture parameters.
    """

    onnx: Path
    colors: np.ndarray
    params: dict


def read_colors_file(path: Path, vertices: int = SMPLX_VERTICES) -> np.ndarray:
    """Parse a SMPLpix vertex colours file.

    Returns:
        (vertices, 3) uint8.

    Raises:
        InputError: missing file, wrong row count, non-numbers or values outside 0..255.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"colours file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"colours file {path} is not readable text ({exc})") from None
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if len(rows) != vertices or any(len(r) != 3 for r in rows):
        found = f"{len(rows)} rows" if len(rows) != vertices else "rows without exactly 3 values"
        raise InputError(
            f"colours file {path}: expected {vertices} rows of 'R G B' (one per SMPL-X vertex), found {found}"
        )
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        raise InputError(f"colours file {path} contains values that are not numbers") from None
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 255:
        raise InputError(f"colours file {path}: values must be within 0..255")
    return np.round(values).astype(np.uint8)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SMPLpix checkpoint {path} does not exist")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(
            f"{path} is not a PyTorch state dict saved by SMPLpix ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise ModelFileError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def detect_architecture(state: Mapping[str, torch.Tensor], source: str) -> dict:
    """``smplpix-unet`` constructor arguments that fit a SMPLpix state dict.

    Raises:
        ModelFileError: the keys are not those of the SMPLpix U-Net.
    """
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"down_convs\.(\d+)\.", k))}
    first, final = "down_convs.0.conv1.weight", "conv_final.weight"
    if not blocks or first not in state or final not in state:
        sample = ", ".join(sorted(state)[:4])
        raise ModelFileError(
            f"{source}: not a SMPLpix U-Net state dict (expected down_convs.*, conv_final.*; found {sample})"
        )
    weight = state[first]
    return {
        "in_channels": int(weight.shape[1]),
        "out_channels": int(state[final].shape[0]),
        "start_filters": int(weight.shape[0]),
        "n_blocks": max(blocks) + 1,
    }


def transpose_kernels(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with every convolution kernel transposed in space (kh ↔ kw)."""
    return {k: (v.transpose(-1, -2).contiguous() if v.ndim == 4 else v) for k, v in state.items()}


def import_smplpix(checkpoint: Path, colors_file: Path, out: Path, size: int = 512) -> ImportResult:
    """Convert a SMPLpix checkpoint and its vertex colours into a generator ONNX file.

    Args:
        checkpoint: the file SMPLpix's training saved (``network.h5``, a state dict).
        colors_file: ``smplx_verts_colors.txt``, 10,475 rows of ``R G B`` in 0..255.
        out: target ``.onnx`` file (written atomically, only after everything was validated).
        size: image side the avatar was trained at (the manifest's resolution).

    Raises:
        InputError / ModelFileError: unreadable or mismatched inputs (nothing is written then).
    """
    import onnx

    from smplpix_rt.generator.export import export_onnx
    from smplpix_rt.generator.fileio import write_atomic
    from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs, embed_in_onnx
    from smplpix_rt.generator.networks import GeneratorGraph, SmplpixUNet

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise InputError(f"--out must name a .onnx file, got {out}")
    colors = read_colors_file(colors_file)
    state = _read_state_dict(checkpoint)
    params = detect_architecture(state, str(checkpoint))
    net = SmplpixUNet(**params)
    try:
        net.load_state_dict(transpose_kernels(state), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{checkpoint}: weights do not fit the SMPLpix U-Net ({first})") from None
    if params["in_channels"] != 3 or params["out_channels"] != 3:
        raise ModelFileError(f"{checkpoint}: expected a 3-channel RGB → RGB network, found {params}")
    if size % net.size_multiple:
        raise InputError(f"--size {size} must be a multiple of {net.size_multiple} for this network")
    manifest = Manifest(
        body_model="smplx",
        body_model_version="smplx",
        encoding="smplpix",
        inputs=default_inputs("smplpix"),
        architecture=Architecture("smplpix-unet", params),
        resolution=(size, size),
        size_multiple=net.size_multiple,
    )
    graph = GeneratorGraph(net.eval(), manifest)
    tmp = out.with_name(f".{out.name}.import")
    try:
        export_onnx(graph, manifest, tmp, opset=17)
        model = onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
    embed_in_onnx(model, manifest)
    embed_vertex_colors(model, colors)
    write_atomic(out, model.SerializeToString())
    return ImportResult(out, colors.astype(np.float32) / 255.0, params)


__all__ = [
    "VERTEX_COLORS_KEY",
    "SMPLX_VERTICES",
    "ImportResult",
    "read_colors_file",
    "detect_architecture",
    "transpose_kernels",
    "embed_vertex_colors",
    "read_vertex_colors",
    "import_smplpix",
]
