"""Generator runtimes: run a generator file on G-buffers, on whichever backend fits the machine.

Owns: the :class:`Runtime` interface, the PyTorch, ONNX Runtime and TensorRT backends, TensorRT
engine building, backend discovery and automatic selection (:func:`load_runtime`), and the
generator benchmark. Does not own: network definitions, manifests and ONNX / safetensors export
(``smplpix_rt.generator``), rendering G-buffers (``smplpix_rt.raster``), training.

Importing this package loads neither onnxruntime, tensorrt nor any CUDA module; each backend
imports its own dependencies when it is created.
"""

from smplpix_rt.runtime.base import Runtime, RuntimeInfo, validate_planes
from smplpix_rt.runtime.loader import BACKENDS, available_backends, check_model_file, load_runtime, time_runtime
from smplpix_rt.runtime.ort_backend import OrtRuntime
from smplpix_rt.runtime.torch_backend import TorchRuntime
from smplpix_rt.runtime.trt_backend import TensorRTRuntime, build_engine, engine_cache_path

__all__ = [
    "Runtime",
    "RuntimeInfo",
    "validate_planes",
    "BACKENDS",
    "load_runtime",
    "available_backends",
    "check_model_file",
    "time_runtime",
    "TorchRuntime",
    "OrtRuntime",
    "TensorRTRuntime",
    "build_engine",
    "engine_cache_path",
]
