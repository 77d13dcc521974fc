"""Fixed per-vertex colours carried inside a generator file (SMPLpix-compatible encoding).

A generator trained on the ``smplpix`` encoding only works with the vertex colours it was trained
with (SMPLpix ships them as ``smplx_verts_colors.txt``). They travel in the ONNX metadata under
:data:`VERTEX_COLORS_KEY` as base64 of the (V, 3) uint8 array, and the pipeline gives them to the
body model so that the viewer and ``smplpix render`` reproduce the training inputs.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from smplpix_rt.errors import ModelFileError

VERTEX_COLORS_KEY = "smplpix_vertex_colors"


def embed_vertex_colors(model, colors: np.ndarray) -> None:
    """Store (V, 3) uint8 colours in an ``onnx.ModelProto``'s metadata."""
    props = [p for p in model.metadata_props if p.key != VERTEX_COLORS_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key = VERTEX_COLORS_KEY
    entry.value = f"{colors.shape[0]}:" + base64.b64encode(np.ascontiguousarray(colors, np.uint8).tobytes()).decode()


def read_vertex_colors(model_path: Path) -> np.ndarray | None:
    """The vertex colours stored in a generator ONNX file, as (V, 3) float32 in [0, 1], or None.

    Raises:
        ModelFileError: the entry exists but is damaged.
    """
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    value = next((p.value for p in model.metadata_props if p.key == VERTEX_COLORS_KEY), None)
    if value is None:
        return None
    try:
        count, data = value.split(":", 1)
        colors = np.frombuffer(base64.b64decode(data), np.uint8).reshape(int(count), 3)
    except ValueError as exc:
        raise ModelFileError(f"{model_path}: vertex colours in the metadata are damaged ({exc})") from None
    return colors.astype(np.float32) / 255.0
