"""Generator networks, the model manifest and model files.

Owns: the image-to-image networks (``networks``: ``pixnet``, ``smplpix-unet``) and the graph
wrapper that gives them the generator I/O contract; the :class:`Manifest` stored with every
generator file (``manifest``); ONNX export, int8 quantization and safetensors save/load
(``export``). Does not own: running a generator file (``smplpix_rt.runtime``), training
(``smplpix_rt.train``) or rendering G-buffers (``smplpix_rt.raster``).

Importing this package loads only the manifest module; the network and export names are
imported from their modules on first use (they pull in torch and onnx).
"""

from __future__ import annotations

import importlib
from typing import Any

from smplpix_rt.generator.manifest import (
    Architecture,
    InputSpec,
    Manifest,
    TrainingSummary,
    check_compatible,
    default_inputs,
    read_manifest,
)

_LAZY = {
    "PixNet": "networks",
    "SmplpixUNet": "networks",
    "GeneratorGraph": "networks",
    "build_network": "networks",
    "build_from_manifest": "networks",
    "count_flops": "networks",
    "fold_batchnorm": "networks",
    "export_onnx": "export",
    "quantize_int8": "export",
    "save_torch": "export",
    "load_graph": "export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"smplpix_rt.generator.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'smplpix_rt.generator' has no attribute {name!r}")


__all__ = [
    "Architecture",
    "InputSpec",
    "Manifest",
    "TrainingSummary",
    "check_compatible",
    "default_inputs",
    "read_manifest",
    *_LAZY,
]
