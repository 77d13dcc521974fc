"""Open any generator file with the right (or the fastest) backend.

:func:`load_runtime` validates the file first (exists, known extension, readable content, a
manifest), then builds the requested backend, or with ``backend="auto"`` times each backend that
can run the file for a few frames at the manifest's resolution and keeps the fastest; the
decision is shown in ``describe().detail``.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError, SmplpixError
from smplpix_rt.generator.manifest import PLANE_CHANNELS, Manifest, read_manifest, read_sidecar
from smplpix_rt.runtime.base import Runtime

Factory = Callable[[], Runtime]

BACKENDS = ("torch", "onnxruntime", "tensorrt")
_KINDS = {
    ".onnx": "ONNX model",
    ".safetensors": "safetensors file",
    ".pt": "PyTorch state dict",
    ".pth": "PyTorch state dict",
    ".engine": "engine",
}


def check_model_file(path: str | Path) -> tuple[str, Manifest]:
    """Validate a generator file before any backend touches it.

    Returns:
        The file's suffix (``".onnx"``, ``".safetensors"``, ``".pt"``, ``".pth"`` or
        ``".engine"``) and its manifest.

    Raises:
        ModelFileError: missing file, unknown extension, empty / truncated / random content, or
            a missing or invalid manifest — naming the file and what was expected.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: file not found")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix not in _KINDS:
        raise ModelFileError(
            f"{path}: unknown generator file type {suffix or '(no extension)'!r}; expected one of {sorted(_KINDS)}"
        )
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path} is not a valid {_KINDS[suffix]}: the file is empty")
    if suffix == ".onnx":
        return suffix, _check_onnx(path)
    if suffix in (".pt", ".pth"):
        manifest = read_sidecar(path)
        _check_pickle(path)
        return suffix, manifest
    # .safetensors (header parsed by read_manifest) and .engine (sidecar; TensorRT checks the rest)
    return suffix, read_manifest(path)


def _check_onnx(path: Path) -> Manifest:
    import onnx

    from smplpix_rt.generator.manifest import manifest_from_onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path} is not a valid ONNX model: {message}") from None
    return manifest_from_onnx(model, str(path))


def _check_pickle(path: Path) -> None:
    import torch

    try:
        torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path} is not a valid PyTorch state dict: {message}") from None


def _cuda_index(device: str) -> int:
    return int(device.split(":", 1)[1]) if device.startswith("cuda:") else 0


def _torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _ort_cuda() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _check_precision(backend: str, requested: str, manifest: Manifest, path: Path) -> None:
    if requested not in ("auto", manifest.precision):
        raise InputError(
            f"{path} is a {manifest.precision} model; the {backend} backend runs it as stored "
            f"(asked for {requested!r}: use precision='auto', or the torch backend for fp32/bf16)"
        )


def load_runtime(path: str | Path, backend: str = "auto", device: str = "auto", precision: str = "auto") -> Runtime:
    """Load a generator file into a runtime.

    Args:
        path: ``.onnx``, ``.safetensors``, ``.pt`` / ``.pth`` (+ ``.json`` sidecar) or ``.engine``.
        backend: ``"auto"``, ``"torch"``, ``"onnxruntime"`` or ``"tensorrt"``. ``auto`` picks
            TensorRT for ``.engine`` files and otherwise times the capable backends.
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"auto"``, or ``"fp32"`` / ``"bf16"`` / ``"fp16"`` for the torch backend;
            ONNX Runtime and TensorRT run a file at the precision it was exported / built with.

    Raises:
        ModelFileError: the file is missing, unreadable or has no valid manifest.
        InputError: unknown backend / device, or a backend that cannot read this file type.
        BackendUnavailableError: the requested backend or device is not usable here.
    """
    path = Path(path)
    if backend not in ("auto", *BACKENDS):
        raise InputError(f"unknown backend {backend!r}; choose one of {['auto', *BACKENDS]}")
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    suffix, manifest = check_model_file(path)
    if suffix == ".engine" and backend not in ("auto", "tensorrt"):
        raise InputError(f"{path} is a TensorRT engine; only the tensorrt backend runs it")
    if backend == "tensorrt" or suffix == ".engine":
        if suffix not in (".engine", ".onnx"):
            raise InputError(f"the tensorrt backend runs .engine files or builds them from .onnx, not {path.name}")
        if device == "cpu":
            raise InputError("TensorRT runs on CUDA devices only; use device='auto' or 'cuda'")
        _check_precision("tensorrt", precision, manifest, path)
        if suffix == ".onnx":  # build once per GPU / TensorRT version / file / shape, then reuse
            from smplpix_rt.runtime.engine_cache import EngineCache

            return EngineCache().load(path, device=_cuda_index(device))
        from smplpix_rt.runtime.trt_backend import TensorRTRuntime

        return TensorRTRuntime(path, device=_cuda_index(device))
    if backend == "onnxruntime":
        if suffix != ".onnx":
            raise InputError(f"the onnxruntime backend runs .onnx files, not {path.name}")
        _check_precision("onnxruntime", precision, manifest, path)
        return _ort_factory(path, _ort_device(device))()
    if backend == "torch":
        return _torch_factory(path, precision, _torch_device(device))()
    return _auto_select(path, suffix, manifest, device, precision)


def _torch_device(device: str) -> str:
    if device == "auto":
        return "cuda:0" if _torch_cuda() else "cpu"
    return device


def _ort_device(device: str) -> str:
    if device == "auto":
        return "cuda:0" if _ort_cuda() else "cpu"
    return device


def _torch_factory(path: Path, precision: str, device: str) -> Factory:
    def create() -> Runtime:
        from smplpix_rt.runtime.torch_backend import TorchRuntime

        return TorchRuntime(path, precision=precision, device=device)

    return create


def _ort_factory(path: Path, device: str) -> Factory:
    def create() -> Runtime:
        from smplpix_rt.runtime.ort_backend import OrtRuntime

        return OrtRuntime(path, device=device)

    return create


def _candidates(path: Path, suffix: str, manifest: Manifest, device: str, precision: str) -> list[list[Factory]]:
    """The backends that can run this file on ``device``, in groups tried in order.

    ``"auto"`` tries the CUDA ones first when a GPU is usable, then the CPU ones: a file no CUDA
    backend reads or loads (an int8 file PyTorch cannot map, say) still runs.
    """
    if device == "auto":
        groups = [_candidates_on(path, suffix, manifest, "cuda:0", precision)] if _torch_cuda() or _ort_cuda() else []
        return [group for group in (*groups, _candidates_on(path, suffix, manifest, "cpu", precision)) if group]
    found = _candidates_on(path, suffix, manifest, "cuda:0" if device == "cuda" else device, precision)
    return [found] if found else []


def _candidates_on(path: Path, suffix: str, manifest: Manifest, device: str, precision: str) -> list[Factory]:
    cuda = device.startswith("cuda")
    # PyTorch runs an int8 file through its dequantized weights: worth it on a GPU (which ONNX
    # Runtime's int8 kernels do not use without onnxruntime-gpu), not against those kernels on a CPU.
    torch_ok = suffix != ".onnx" or manifest.precision != "int8" or cuda
    ort_ok = suffix == ".onnx" and precision in ("auto", manifest.precision)
    found = []
    if torch_ok and (not cuda or _torch_cuda()):
        found.append(_torch_factory(path, precision, device))
    if ort_ok and (not cuda or _ort_cuda()):
        found.append(_ort_factory(path, device))
    return found


def time_runtime(runtime: Runtime, size: tuple[int, int], runs: int = 3, warmup: int = 1) -> float:
    """Milliseconds per frame (best of ``runs`` after ``warmup``) on random G-buffers of ``size`` (H, W)."""
    rng = np.random.default_rng(0)
    planes = tuple(rng.random((size[0], size[1], PLANE_CHANNELS), dtype=np.float32) for _ in runtime.manifest.inputs)
    for _ in range(warmup):
        runtime.infer(planes)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        runtime.infer(planes)
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best


def _label(runtime: Runtime) -> str:
    info = runtime.describe()
    return f"{info.backend}/{info.device}/{info.precision}"


def _auto_select(path: Path, suffix: str, manifest: Manifest, device: str, precision: str) -> Runtime:
    groups = _candidates(path, suffix, manifest, device, precision)
    if not groups:
        raise BackendUnavailableError(
            f"no available backend can run {path.name} with device={device!r}, precision={precision!r}; "
            "see smplpix_rt.runtime.available_backends()"
        )
    failures: list[SmplpixError] = []
    for group in groups:
        best = _fastest_of(group, manifest, failures)
        if best is not None:
            return best
    if isinstance(failures[-1], ModelFileError):
        raise failures[-1]
    raise BackendUnavailableError(f"no backend could load {path.name}: {' | '.join(map(str, failures))}")


def _fastest_of(group: list[Factory], manifest: Manifest, failures: list[SmplpixError]) -> Runtime | None:
    """Load every factory of ``group``, keep the fastest (timed on random G-buffers); None if none loads."""
    timed: list[tuple[float, Runtime]] = []
    for create in group:
        try:
            runtime = create()
        except (BackendUnavailableError, ModelFileError) as exc:
            failures.append(exc)
            continue
        if len(group) == 1:
            note = "auto: the only backend that can run this file here"
            runtime.annotate(note + (f" (not on the GPU: {failures[-1]})" if failures else ""))
            return runtime
        timed.append((time_runtime(runtime, manifest.resolution), runtime))
    if not timed:
        return None
    timed.sort(key=lambda item: item[0])
    best_ms, best = timed[0]
    for _, other in timed[1:]:
        other.release()
    height, width = manifest.resolution
    others = ", ".join(f"{_label(r)} {ms:.1f} ms" for ms, r in timed[1:])
    note = f"auto: fastest at {width}x{height} ({best_ms:.1f} ms/frame" + (f"; others: {others})" if others else ")")
    if failures:
        note += f"; could not load: {failures[-1]}"
    best.annotate(note)
    return best


def available_backends() -> list[dict[str, Any]]:
    """Which backends this machine can use, and why not.

    Returns:
        One dict per backend: ``name`` (str), ``available`` (bool), ``reason`` (str: version and
        devices when available, what is missing otherwise).
    """
    import torch

    from smplpix_rt.runtime.host import cpu_has_fast_bf16

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    bf16 = "native bf16" if cpu_has_fast_bf16() else "no native bf16"
    entries = [
        {"name": "torch", "available": True, "reason": f"torch {torch.__version__}; CPU ({bf16}); {gpus} CUDA GPU(s)"}
    ]
    if importlib.util.find_spec("onnxruntime") is None:
        entries.append({"name": "onnxruntime", "available": False, "reason": "not installed (pip install onnxruntime)"})
    else:
        import onnxruntime

        providers = ", ".join(onnxruntime.get_available_providers())
        entries.append(
            {"name": "onnxruntime", "available": True, "reason": f"onnxruntime {onnxruntime.__version__}: {providers}"}
        )
    entries.append(_tensorrt_entry(gpus))
    return entries


def _tensorrt_entry(gpus: int) -> dict[str, Any]:
    from smplpix_rt.runtime.trt_backend import import_tensorrt

    if importlib.util.find_spec("tensorrt") is None:
        return {
            "name": "tensorrt",
            "available": False,
            "reason": "not installed (needs an NVIDIA GPU and NVIDIA's wheel)",
        }
    try:
        trt = import_tensorrt()
    except (BackendUnavailableError, OSError) as exc:
        return {"name": "tensorrt", "available": False, "reason": str(exc)}
    if gpus == 0:
        return {"name": "tensorrt", "available": False, "reason": f"tensorrt {trt.__version__} found, but no CUDA GPU"}
    return {"name": "tensorrt", "available": True, "reason": f"tensorrt {trt.__version__}, {gpus} CUDA GPU(s)"}
