"""TensorRT backend: build an engine from a smplpix ONNX file and run it on an NVIDIA GPU.

Written against the TensorRT 10 Python API (name-based tensors, ``execute_async_v3``); device
buffers and the CUDA stream come from ``torch.cuda``. ``tensorrt`` is imported only when an
engine is built or loaded.

Verification status: TensorRT could not be installed on any machine this code was checked on
(PyPI's ``tensorrt`` wheels download NVIDIA's libraries at install time, from an index those
machines cannot reach), so the engine build and inference paths here have not been run. What is
tested is every path that does not need TensorRT itself: missing TensorRT or CUDA, missing or
invalid sidecar manifests, and an engine that TensorRT refuses to deserialize.
``scripts/verify_tensorrt.py`` checks the rest on a machine with TensorRT and a GPU.

Engines are tied to the GPU architecture and the TensorRT version that built them: ship the
ONNX file and build the engine on the user's machine (:func:`build_engine`). Each engine keeps
its manifest in a JSON sidecar, ``model.engine.json``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError
from smplpix_rt.generator.fileio import write_atomic
from smplpix_rt.generator.manifest import PLANE_CHANNELS, Manifest, read_manifest, read_sidecar, write_sidecar
from smplpix_rt.runtime.base import Runtime, RuntimeInfo, validate_planes

log = logging.getLogger("smplpix_rt.tensorrt")

_REBUILD_HINT = "rebuild it with `smplpix export ... --engine` on this machine"


def import_tensorrt() -> Any:
    """``import tensorrt`` with an actionable error when it is missing."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailableError(
            f"TensorRT is not installed ({exc}). It needs an NVIDIA GPU: install NVIDIA's `tensorrt` wheel "
            "(pip install tensorrt, which downloads the libraries from NVIDIA), or use the onnxruntime or torch backend"
        ) from None
    return tensorrt


def _require_cuda() -> Any:
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            "TensorRT needs a CUDA GPU and PyTorch sees none (a CUDA build of torch and an NVIDIA driver are needed); "
            "use the onnxruntime or torch backend on the CPU"
        )
    return torch


class TensorRTRuntime(Runtime):
    """A generator engine run by TensorRT.

    Args:
        engine_path: a serialized engine written by :func:`build_engine`; its manifest is read
            from ``<engine_path>.json``.
        device: CUDA device index.

    Raises:
        ModelFileError: missing engine or sidecar, or an engine TensorRT cannot deserialize
            (built for another GPU or TensorRT version), or I/O that does not match the manifest.
        BackendUnavailableError: TensorRT or CUDA is not available.
    """

    def __init__(self, engine_path: str | Path, device: int = 0) -> None:
        self._path = Path(engine_path)
        if not self._path.is_file():
            raise ModelFileError(f"{self._path}: file not found")
        self.manifest = read_sidecar(self._path)
        trt = import_tensorrt()
        torch = _require_cuda()
        self._torch, self._device = torch, torch.device("cuda", device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._trt_runtime = trt.Runtime(self._logger)
        data = self._path.read_bytes()
        if not data:
            raise ModelFileError(f"{self._path} is not a valid engine: the file is empty; {_REBUILD_HINT}")
        # TensorRT uses the CUDA device current at deserialization; for device != 0 this likely needs
        # `with torch.cuda.device(self._device):` around this and create_execution_context (unconfirmed).
        self._engine = self._trt_runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise ModelFileError(
                f"{self._path} is not a valid engine for this machine: it was built for another GPU or TensorRT "
                f"version (TensorRT {getattr(trt, '__version__', '?')} here), or the file is damaged; {_REBUILD_HINT}"
            )
        self._dtypes = self._check_io(trt)
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream(device=self._device)
        self._buffers: dict[str, Any] = {}
        self._size: tuple[int, int] | None = None
        self._trt_version = getattr(trt, "__version__", "?")

    def _check_io(self, trt: Any) -> dict[str, Any]:
        """Compare the engine's tensors with the manifest; returns the torch dtype of each."""
        torch = self._torch
        to_torch = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if sorted(inputs) != sorted(self.manifest.input_names) or self.manifest.output not in names:
            raise ModelFileError(
                f"{self._path}: engine tensors {names} do not match its manifest "
                f"(inputs {list(self.manifest.input_names)}, output {self.manifest.output!r}); {_REBUILD_HINT}"
            )
        dtypes = {}
        for name in (*self.manifest.input_names, self.manifest.output):
            dtype = self._engine.get_tensor_dtype(name)
            if dtype not in to_torch:
                raise ModelFileError(f"{self._path}: tensor {name} has unsupported type {dtype}; {_REBUILD_HINT}")
            dtypes[name] = to_torch[dtype]
        return dtypes

    def _allocate(self, height: int, width: int) -> None:
        """(Re)allocate device buffers and bind them for an H×W frame."""
        torch = self._torch
        for name in self.manifest.input_names:
            low, _, high = self._engine.get_tensor_profile_shape(name, 0)
            if not (low[1] <= height <= high[1] and low[2] <= width <= high[2]):
                raise InputError(
                    f"this engine accepts {low[2]}x{low[1]} to {high[2]}x{high[1]} frames, got {width}x{height}; "
                    "rebuild it with a larger size range"
                )
            self._context.set_input_shape(name, (1, height, width, PLANE_CHANNELS))
        self._buffers = {}
        for name in (*self.manifest.input_names, self.manifest.output):
            shape = tuple(self._context.get_tensor_shape(name))
            buffer = torch.empty(shape, dtype=self._dtypes[name], device=self._device)
            self._context.set_tensor_address(name, buffer.data_ptr())
            self._buffers[name] = buffer
        self._size = (height, width)

    def infer(self, planes: tuple[np.ndarray, ...]) -> np.ndarray:
        """G-buffer planes ((H, W, 4) float32 each) → (H, W, 3) float32 image in [0, 1]."""
        if self._engine is None:
            raise InputError("this TensorRTRuntime has been released")
        planes = validate_planes(self.manifest, planes)
        torch = self._torch
        size = planes[0].shape[:2]
        if size != self._size:
            self._allocate(*size)
        with torch.cuda.stream(self._stream):
            for name, plane in zip(self.manifest.input_names, planes, strict=True):
                self._buffers[name].copy_(torch.from_numpy(plane)[None])
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise ModelFileError(f"{self._path}: TensorRT failed to run the engine (see the TensorRT log)")
            image = self._buffers[self.manifest.output][0].float().cpu()
        self._stream.synchronize()
        return image.numpy()

    def rebind_before_next_run(self) -> None:
        """Someone else set this runtime's tensor addresses (the device path shares the execution
        context): make the next :meth:`infer` bind its own buffers again."""
        self._size = None

    def describe(self) -> RuntimeInfo:
        name = self._torch.cuda.get_device_name(self._device) if self._engine is not None else "released"
        detail = self._detail(f"TensorRT {self._trt_version} on {name}")
        return RuntimeInfo("tensorrt", str(self._device), self.manifest.precision, str(self._path), detail)

    def release(self) -> None:
        # Order matters: buffers and the context go before the engine, the engine before its runtime.
        self._buffers = {}
        self._context = None
        self._engine = None
        self._trt_runtime = None
        self._size = None


# -- building ----------------------------------------------------------------------------------------


def _make_progress_monitor(trt: Any) -> Any | None:
    """A ``trt.IProgressMonitor`` that logs build phases (None where the API lacks it)."""
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class _Progress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            log.info("TensorRT build: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            log.info("TensorRT build: %s done", phase_name)

    return _Progress()


def _network(trt: Any, builder: Any, logger: Any, onnx_path: Path, manifest: Manifest, fp16: bool) -> tuple[Any, str]:
    """Parse the ONNX file into a network; returns it and the engine precision."""
    strongly_typed = manifest.precision == "fp16" and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if fp16 and manifest.precision == "fp32" and not hasattr(trt.BuilderFlag, "FP16"):
        raise InputError(
            f"TensorRT {trt.__version__} builds fp16 engines only from an fp16 ONNX file; export one with "
            "export_onnx(..., fp16=True) and build from it"
        )
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelFileError(f"{onnx_path}: TensorRT could not parse the ONNX model: {errors}")
    precision = "fp16" if (strongly_typed or fp16) else "fp32"
    return network, precision


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    fp16: bool = True,
    timing_cache: str | Path | None = None,
    max_size: tuple[int, int] | None = None,
) -> Path:
    """Build a TensorRT engine (and its ``.json`` manifest sidecar) from a smplpix ONNX file.

    Args:
        onnx_path: fp32 or fp16 ONNX written by ``export_onnx``. An fp16 file is built as a
            strongly typed network (its precision is the file's); an fp32 file is built with the
            FP16 builder flag when ``fp16`` is set and the TensorRT version still has it.
        engine_path: target engine file, written atomically.
        fp16: allow fp16 kernels for an fp32 ONNX file.
        timing_cache: optional file to read layer timings from and write them back to, which
            makes rebuilds (other sizes, model updates) much faster.
        max_size: largest (H, W) the engine accepts; default twice the trained resolution. The
            smallest is (size_multiple, size_multiple), the optimized one the trained resolution.

    Returns:
        ``engine_path``.

    Raises:
        BackendUnavailableError: TensorRT or CUDA is missing.
        ModelFileError: the ONNX file is invalid or TensorRT cannot parse / build it.
        InputError: int8 ONNX input, or fp16 requested where only strongly typed builds exist.
    """
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    manifest = read_manifest(onnx_path)
    if manifest.precision == "int8":
        raise InputError(f"{onnx_path} is int8 (for onnxruntime); build TensorRT engines from the fp32 or fp16 ONNX")
    trt = import_tensorrt()
    _require_cuda()
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    network, precision = _network(trt, builder, trt_logger, onnx_path, manifest, fp16)
    config = builder.create_builder_config()
    if precision == "fp16" and manifest.precision == "fp32":
        config.set_flag(trt.BuilderFlag.FP16)
    monitor = _make_progress_monitor(trt)
    if monitor is not None and hasattr(config, "progress_monitor"):
        config.progress_monitor = monitor
    cache_bytes = Path(timing_cache).read_bytes() if timing_cache and Path(timing_cache).is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    config.add_optimization_profile(_profile(builder, manifest, max_size))
    log.info("building TensorRT %s engine from %s (takes minutes the first time)", precision, onnx_path.name)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelFileError(f"{onnx_path}: TensorRT failed to build an engine (see the TensorRT log above)")
    write_atomic(engine_path, bytes(serialized))
    write_sidecar(manifest.replace(precision=precision), engine_path)
    if timing_cache:
        write_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
    return engine_path


def _profile(builder: Any, manifest: Manifest, max_size: tuple[int, int] | None) -> Any:
    height, width = manifest.resolution
    max_h, max_w = max_size or (2 * height, 2 * width)
    m = manifest.size_multiple
    if max_h % m or max_w % m or max_h < height or max_w < width:
        raise InputError(f"max_size {max_size} must be multiples of {m} and at least the trained size {height}x{width}")
    profile = builder.create_optimization_profile()
    for name in manifest.input_names:
        profile.set_shape(
            name, (1, m, m, PLANE_CHANNELS), (1, height, width, PLANE_CHANNELS), (1, max_h, max_w, PLANE_CHANNELS)
        )
    return profile


def engine_cache_path(onnx_path: str | Path, cache_dir: str | Path, fp16: bool = True) -> Path:
    """Where the engine for this ONNX file, GPU, TensorRT version and precision is cached.

    Engines only run on the GPU architecture and TensorRT version that built them; the name
    encodes both plus a hash of the ONNX file, so a stale engine is never picked up.

    Raises:
        BackendUnavailableError: TensorRT or CUDA is missing.
    """
    trt = import_tensorrt()
    torch = _require_cuda()
    digest = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()[:16]
    major, minor = torch.cuda.get_device_capability()
    tag = f"sm{major}{minor}-trt{trt.__version__}-{'fp16' if fp16 else 'fp32'}"
    return Path(cache_dir) / f"{Path(onnx_path).stem}-{digest}-{tag}.engine"
