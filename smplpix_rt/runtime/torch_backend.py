"""PyTorch backend: runs a generator from ``.safetensors``, ``.pt`` (+ sidecar) or ``.onnx``.

An int8 ``.onnx`` file runs through its dequantized weights (:mod:`smplpix_rt.generator.int8_weights`):
float activations, so closer to the fp32 export than ONNX Runtime's int8 kernels are.

At load the network's BatchNorms are folded into the convolutions and the weights are converted to
the compute precision in channels-last layout. ``bf16`` casts the weights once (not autocast,
which re-casts every weight on every call and measured ~20 % slower here); it is the default on
CPUs with native bf16 (AMX or AVX512-BF16), fp32 elsewhere, and on CUDA GPUs that support it.
``fp32`` on CUDA is strict fp32: cuDNN's TF32 convolutions (PyTorch's default; they put the
output ~1e-3 off) are switched off around the generator's calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from smplpix_rt.errors import BackendUnavailableError, InputError
from smplpix_rt.generator.export import load_graph
from smplpix_rt.generator.networks import GeneratorGraph, fold_batchnorm
from smplpix_rt.runtime.base import Runtime, RuntimeInfo, validate_planes
from smplpix_rt.runtime.host import cpu_has_fast_bf16, tune_host_allocator

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_torch_device(device: str) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` → a canonical device string, checked for availability.

    Raises:
        InputError: unknown device name.
        BackendUnavailableError: CUDA requested but PyTorch sees no CUDA device.
    """
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device {device!r} requested but PyTorch sees no CUDA GPU (torch {torch.__version__}); "
                "use device='cpu'"
            )
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise BackendUnavailableError(f"{device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return f"cuda:{index}"
    raise InputError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")


def resolve_torch_precision(precision: str, device: str) -> str:
    """``"auto"`` → the fastest safe precision for ``device``; others are checked.

    Raises:
        InputError: an unknown precision, or fp16 on the CPU.
    """
    if precision == "auto":
        if device == "cpu":
            return "bf16" if cpu_has_fast_bf16() else "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision not in _DTYPES:
        raise InputError(f"torch precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {precision!r}")
    if precision == "fp16" and device == "cpu":
        raise InputError("fp16 is not supported on the CPU by the torch backend; use 'bf16' or 'fp32'")
    return precision


@contextlib.contextmanager
def _strict_fp32() -> Iterator[None]:
    """cuDNN convolutions without TF32 for the enclosed calls (restored afterwards)."""
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved


class TorchRuntime(Runtime):
    """A generator run by PyTorch.

    Args:
        path: ``.safetensors``, ``.pt`` / ``.pth`` (state dict + ``<file>.json`` manifest) or an
            fp32/fp16 ``.onnx`` exported by smplpix-rt.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` (or ``"fp16"`` on CUDA).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        num_threads: CPU inference threads; default: the loading thread's PyTorch setting. Every
            ``infer`` runs with this count, on whichever thread calls it (see :meth:`infer`).

    Raises:
        ModelFileError: unreadable or incompatible model file (int8 ONNX included).
        BackendUnavailableError: CUDA requested but unavailable.
        InputError: invalid precision or device.
    """

    def __init__(
        self, path: str | Path, precision: str = "auto", device: str = "cpu", num_threads: int | None = None
    ) -> None:
        self._path = Path(path)
        self._device = resolve_torch_device(device)
        self._precision = resolve_torch_precision(precision, self._device)
        graph = load_graph(self._path, dequantize_int8=True)
        self.manifest = graph.manifest
        dtype = _DTYPES[self._precision]
        net = fold_batchnorm(graph.net.eval())
        net = net.to(device=self._device, dtype=dtype, memory_format=torch.channels_last)
        self._graph: GeneratorGraph | None = GeneratorGraph(net, self.manifest, compute_dtype=dtype).eval()
        if num_threads is not None:
            if num_threads < 1:
                raise InputError(f"num_threads must be >= 1, got {num_threads}")
            torch.set_num_threads(num_threads)
        self._threads = torch.get_num_threads()
        if self._device == "cpu":
            tune_host_allocator()

    def infer(self, planes: tuple[np.ndarray, ...]) -> np.ndarray:
        """G-buffer planes ((H, W, 4) float32 each) → (H, W, 3) float32 image in [0, 1]."""
        if self._graph is None:
            raise InputError("this TorchRuntime has been released")
        planes = validate_planes(self.manifest, planes)
        if self._device == "cpu" and torch.get_num_threads() != self._threads:
            # PyTorch gives a thread its count on the thread's first parallel call, copied from
            # the last torch.set_num_threads of any thread. A generator thread that starts while
            # another thread briefly runs on one thread (the body models do, every pose) would
            # otherwise keep one thread for good.
            torch.set_num_threads(self._threads)
        with torch.inference_mode():
            image = self.forward(*(torch.from_numpy(p)[None].to(self._device) for p in planes))[0]
            return image.cpu().numpy()

    def forward(self, *planes: torch.Tensor) -> torch.Tensor:
        """(1, H, W, 4) float32 planes on this runtime's device → (1, H, W, 3) float32 image.

        Runs on the current CUDA stream; call it under ``torch.inference_mode()``.
        """
        if self._graph is None:
            raise InputError("this TorchRuntime has been released")
        if self._device != "cpu" and self._precision == "fp32":
            with _strict_fp32():
                return self._graph(*planes)
        return self._graph(*planes)

    def describe(self) -> RuntimeInfo:
        threads = f", {torch.get_num_threads()} threads" if self._device == "cpu" else ""
        detail = f"PyTorch {torch.__version__}{threads}, BatchNorm folded, channels_last"
        if self.manifest.precision == "int8":
            detail += ", weights dequantized from the int8 file"
        return RuntimeInfo("torch", self._device, self._precision, str(self._path), self._detail(detail))

    def release(self) -> None:
        self._graph = None
        if self._device != "cpu":
            torch.cuda.empty_cache()
