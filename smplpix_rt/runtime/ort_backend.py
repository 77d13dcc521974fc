"""ONNX Runtime backend: fp32, fp16 and int8 (QDQ) ``.onnx`` generators on the CPU or CUDA.

``onnxruntime`` is imported when a runtime is created, never at package import. CPU sessions use
all graph optimizations with 2 intra-op threads and 1 inter-op thread (measured best on 2-core
machines), and by default their worker threads sleep between runs instead of spinning: a
spinning pool competes with the rasterizer and the UI for the same cores (on a loaded 2-core
machine pixnet at 256² took 40 ms/frame without spinning and 69 ms with it).

The CUDA execution provider needs the ``onnxruntime-gpu`` wheel and an NVIDIA driver. That path
has not been run: the GPU machine this code was checked on had CPU-only ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError
from smplpix_rt.generator.manifest import PLANE_CHANNELS, check_io_signature, manifest_from_metadata
from smplpix_rt.runtime.base import Runtime, RuntimeInfo, validate_planes
from smplpix_rt.runtime.host import tune_host_allocator


def import_onnxruntime() -> Any:
    """``import onnxruntime`` with an actionable error when it is missing."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError(
            f"ONNX Runtime is not installed ({exc}); pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA)"
        ) from None
    return onnxruntime


def _session_options(ort: Any, num_threads: int, spin: bool) -> Any:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


class OrtRuntime(Runtime):
    """A generator run by ONNX Runtime.

    Args:
        path: an ``.onnx`` file exported by smplpix-rt (manifest in its metadata).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        num_threads: intra-op threads for the CPU provider.
        spin: let idle worker threads spin (lower latency on an otherwise idle machine).

    Raises:
        BackendUnavailableError: onnxruntime missing, or CUDA requested without the CUDA provider.
        ModelFileError: not a loadable ONNX model, no manifest, or inputs/outputs that do not
            match the manifest (names, 4-channel planes, 3-channel output, channel count).
    """

    def __init__(self, path: str | Path, device: str = "cpu", num_threads: int = 2, spin: bool = False) -> None:
        ort = import_onnxruntime()
        self._path = Path(path)
        if not self._path.is_file():
            raise ModelFileError(f"{self._path}: file not found")
        self._device, providers = _providers(ort, device)
        try:
            self._session = ort.InferenceSession(
                str(self._path), _session_options(ort, num_threads, spin), providers=providers
            )
        except Exception as exc:
            raise ModelFileError(
                f"{self._path} is not a valid ONNX model for ONNX Runtime: {_first_line(exc)}"
            ) from None
        if self._device != "cpu" and "CUDAExecutionProvider" not in self._session.get_providers():
            raise BackendUnavailableError(
                f"ONNX Runtime could not start its CUDA provider for {self._path.name} (driver or CUDA libraries "
                "missing?); use device='cpu'"
            )
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.manifest = manifest_from_metadata(metadata, str(self._path))
        self._check_signature()
        self._output_names = [self.manifest.output]
        if self._device == "cpu":
            tune_host_allocator()
        self._dry_run()

    def _check_signature(self) -> None:
        """Compare the graph's inputs and output with the manifest."""
        inputs = {i.name: i.shape for i in self._session.get_inputs()}
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        check_io_signature(self.manifest, inputs, outputs, str(self._path))

    def _dry_run(self) -> None:
        """One run at the smallest legal size: catches a network whose channel count disagrees."""
        side = self.manifest.size_multiple
        planes = tuple(np.zeros((side, side, PLANE_CHANNELS), np.float32) for _ in self.manifest.inputs)
        try:
            self._run(planes)
        except Exception as exc:
            raise ModelFileError(
                f"{self._path}: the network does not run on the {self.manifest.in_channels} channels its manifest "
                f"selects ({_first_line(exc)}); the file and its manifest do not belong together"
            ) from None

    def _run(self, planes: tuple[np.ndarray, ...]) -> np.ndarray:
        feed = {name: plane[None] for name, plane in zip(self.manifest.input_names, planes, strict=True)}
        return self._session.run(self._output_names, feed)[0][0]

    def infer(self, planes: tuple[np.ndarray, ...]) -> np.ndarray:
        """G-buffer planes ((H, W, 4) float32 each) → (H, W, 3) float32 image in [0, 1]."""
        if self._session is None:
            raise InputError("this OrtRuntime has been released")
        return self._run(validate_planes(self.manifest, planes))

    def describe(self) -> RuntimeInfo:
        import onnxruntime

        providers = ",".join(self._session.get_providers()) if self._session is not None else "released"
        detail = f"ONNX Runtime {onnxruntime.__version__} [{providers}]"
        return RuntimeInfo("onnxruntime", self._device, self.manifest.precision, str(self._path), self._detail(detail))

    def release(self) -> None:
        self._session = None


def _providers(ort: Any, device: str) -> tuple[str, list[Any]]:
    if device == "cpu":
        return "cpu", ["CPUExecutionProvider"]
    if device == "cuda" or device.startswith("cuda:"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailableError(
                "ONNX Runtime has no CUDA provider here (installed: "
                f"{', '.join(ort.get_available_providers())}); pip install onnxruntime-gpu, or use device='cpu'"
            )
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return f"cuda:{index}", [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise InputError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
