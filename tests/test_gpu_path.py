"""GPU path decisions and error paths that run without a GPU; the device checks themselves need CUDA."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smplpix_rt.errors import BackendUnavailableError
from smplpix_rt.runtime.device import (
    FRAME_PATH_HOST,
    FRAME_PATH_INTEROP,
    InteropFacts,
    decide_frame_path,
    device_generator_for,
    is_wsl,
    select_frame_path,
)

ROOT = Path(__file__).resolve().parent.parent
NVIDIA = {"gl_renderer": "NVIDIA H200/PCIe/SSE2", "gl_vendor": "NVIDIA Corporation"}


def facts(**changes) -> InteropFacts:
    values = dict(
        **NVIDIA,
        wsl=False,
        cuda_devices=1,
        cuda_reason="",
        runtime_backend="tensorrt",
        runtime_device="cuda:0",
        gl_cuda_devices=(0,),
    )
    values.update(changes)
    return InteropFacts(**values)


def test_nvidia_gl_and_cuda_generator_on_one_device_use_interop():
    path, reason = decide_frame_path(facts())
    assert path == FRAME_PATH_INTEROP
    assert "cuda:0" in reason


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"wsl": True}, "WSL"),
        ({"cuda_devices": 0, "cuda_reason": "cudaErrorInsufficientDriver"}, "cudaErrorInsufficientDriver"),
        ({"gl_renderer": "llvmpipe (LLVM 15.0.6, 256 bits)", "gl_vendor": "Mesa"}, "software renderer"),
        ({"gl_renderer": "AMD Radeon RX 7900", "gl_vendor": "AMD"}, "not on the NVIDIA driver"),
        ({"runtime_backend": "onnxruntime", "runtime_device": "cpu"}, "onnxruntime/cpu"),
        ({"runtime_device": "cuda:1", "gl_cuda_devices": (0,)}, "renders on cuda:0 but the generator runs on cuda:1"),
        ({"torch_cuda": False}, "need PyTorch with CUDA"),
    ],
)
def test_every_blocker_falls_back_to_host_with_its_reason(changes, expected):
    path, reason = decide_frame_path(facts(**changes))
    assert path == FRAME_PATH_HOST
    assert expected in reason


def test_wsl_is_detected_from_proc_version():
    assert is_wsl("Linux version 5.15.153.1-microsoft-standard-WSL2 (root@...) #1 SMP")
    assert not is_wsl("Linux version 6.8.0-45-generic (buildd@lcy02-amd64-075) #45-Ubuntu SMP")


class _FakeRuntime:
    def __init__(self, backend: str, device: str) -> None:
        from smplpix_rt.runtime.base import RuntimeInfo

        self._info = RuntimeInfo(backend, device, "fp32", "model.onnx")

    def describe(self):
        return self._info


class _FakeContext:
    info = {"GL_RENDERER": "llvmpipe (LLVM 15.0.6, 256 bits)", "GL_VENDOR": "Mesa"}


def test_select_frame_path_on_this_kind_of_machine_is_host_with_a_logged_reason(caplog):
    caplog.set_level("INFO", logger="smplpix_rt.device")
    path, reason = select_frame_path(_FakeContext(), _FakeRuntime("onnxruntime", "cpu"))
    assert path == FRAME_PATH_HOST and reason
    assert any(reason in record.getMessage() for record in caplog.records)


def test_device_generator_refuses_a_cpu_runtime():
    with pytest.raises(BackendUnavailableError, match="needs a CUDA runtime.*cpu"):
        device_generator_for(_FakeRuntime("torch", "cpu"))


def test_gpu_check_without_cuda_reports_the_reason_and_exits_0(tmp_path):
    out = tmp_path / "report.json"
    env_path = f"{ROOT}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--sizes", "64", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == json.loads(out.read_text())
    assert report["cuda"]["available"] is False
    assert report["cuda"]["reason"]
    assert report["performance"] == {"skipped": "cuda unavailable"}
    assert "installed" in report["tensorrt"]


def test_gpu_check_rejects_bad_sizes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--sizes", "big"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--sizes" in result.stderr


@pytest.mark.gl
def test_egl_devices_are_listed_and_a_missing_cuda_device_is_a_clear_error():
    from smplpix_rt.errors import GLUnavailableError
    from smplpix_rt.raster.egl_device import create_context_on_cuda_device, egl_index_for_cuda, list_egl_devices

    devices = list_egl_devices()
    assert devices and [d.index for d in devices] == list(range(len(devices)))
    if egl_index_for_cuda(devices, 99) is None:
        with pytest.raises(GLUnavailableError, match="no EGL device is CUDA device 99"):
            create_context_on_cuda_device(99)


def test_egl_index_matches_the_cuda_device():
    from smplpix_rt.raster.egl_device import EglDevice, egl_index_for_cuda

    devices = [EglDevice(0, "", None, None), EglDevice(1, "EGL_NV_device_cuda", 1, None), EglDevice(2, "", 0, None)]
    assert egl_index_for_cuda(devices, 0) == 2
    assert egl_index_for_cuda(devices, 1) == 1
    assert egl_index_for_cuda(devices, 3) is None


@pytest.mark.gpu
@pytest.mark.gl
def test_interop_round_trip_is_bit_exact():
    sys.path.insert(0, str(ROOT / "scripts"))
    import gpu_check

    ctx = gpu_check._context()
    try:
        result = gpu_check.interop_roundtrip(ctx, 64)
    finally:
        ctx.release()
    assert result["bit_exact"] and result["cuda_buffer_exact"]


@pytest.mark.gpu
def test_torch_device_generator_matches_host_inference(tmp_path):
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    import gpu_check

    from smplpix_rt.runtime.loader import load_runtime

    model = gpu_check._random_model(tmp_path)
    runtime = load_runtime(model, backend="torch", device="cuda", precision="fp32")
    rng = np.random.default_rng(0)
    planes = tuple(rng.random((64, 64, 4), dtype=np.float32) for _ in runtime.manifest.inputs)
    expected = runtime.infer(planes)
    generator = device_generator_for(runtime)
    inputs = [torch.from_numpy(p)[None].cuda() for p in planes]
    output = torch.empty((1, 64, 64, 3), device="cuda")
    stream = torch.cuda.current_stream()
    generator.infer_device([t.data_ptr() for t in inputs], output.data_ptr(), stream.cuda_stream, (64, 64))
    stream.synchronize()
    torch.testing.assert_close(output[0].cpu(), torch.from_numpy(expected), atol=1e-4, rtol=0)
    runtime.release()


# -- the CUDA calls, against a stand-in for cuda.bindings.runtime that checks argument types --------


class _FakeCudart:
    """Just enough of ``cuda.bindings.runtime`` for the interop classes, recording every call.

    Like the real bindings, ``cudaGraphicsMapResources`` / ``cudaGraphicsUnmapResources`` take
    ``resources`` as one handle or as the int address of a C array of handles, never a list.
    """

    class cudaGraphicsRegisterFlags:
        cudaGraphicsRegisterFlagsReadOnly = 1
        cudaGraphicsRegisterFlagsWriteDiscard = 2

    class cudaMemcpyKind:
        cudaMemcpyDeviceToDevice = 3

    class cudaStreamCaptureMode:
        cudaStreamCaptureModeThreadLocal = 1

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.fail, self.calls, self.next_handle = fail, [], 0x1000

    def _result(self, name: str, *values):
        self.calls.append(name)
        return (999 if name in self.fail else 0, *values)

    def _resources(self, count: int, resources) -> list[int]:
        if not isinstance(resources, int):
            raise TypeError(f"Argument 'resources' is not instance of type int, found {type(resources)}")
        return list((ctypes.c_void_p * count).from_address(resources))

    def cudaGetErrorString(self, err):
        return (0, b"fake failure")

    def cudaGraphicsGLRegisterImage(self, image, target, flags):
        self.next_handle += 0x10
        return self._result("register", self.next_handle)

    def cudaGraphicsMapResources(self, count, resources, stream):
        self.mapped = self._resources(count, resources)
        return self._result("map")

    def cudaGraphicsUnmapResources(self, count, resources, stream):
        self.unmapped = self._resources(count, resources)
        return self._result("unmap")

    def cudaGraphicsSubResourceGetMappedArray(self, resource, array_index, mip_level):
        return self._result("array", f"array-{resource:#x}")

    def cudaGraphicsUnregisterResource(self, resource):
        return self._result("unregister")

    def cudaStreamBeginCapture(self, stream, mode):
        return self._result("begin_capture")

    def cudaStreamEndCapture(self, stream):
        return self._result("end_capture", "graph")

    def cudaGraphInstantiate(self, graph, flags):
        return self._result("instantiate", "exec")

    def cudaGraphDestroy(self, graph):
        return self._result("graph_destroy")

    def cudaGraphExecDestroy(self, graph_exec):
        return self._result("exec_destroy")


class _FakeTexture:
    def __init__(self, glo: int) -> None:
        self.glo, self.components, self.dtype, self.width, self.height = glo, 4, "f2", 8, 4


@pytest.fixture
def fake_cudart(monkeypatch):
    import smplpix_rt.runtime.interop as interop

    def install(fail: frozenset[str] = frozenset()) -> _FakeCudart:
        cudart = _FakeCudart(fail)
        monkeypatch.setattr(interop, "import_cudart", lambda: cudart)
        return cudart

    return install


def test_textures_are_mapped_and_unmapped_as_one_c_array_of_handles(fake_cudart):
    from smplpix_rt.runtime.interop import RegisteredTextures

    cudart = fake_cudart()
    registered = RegisteredTextures([_FakeTexture(1), _FakeTexture(2)], [False, True])
    arrays = registered.map(stream=7)
    assert cudart.mapped == [0x1010, 0x1020]
    assert arrays == ["array-0x1010", "array-0x1020"]
    registered.unmap()
    assert cudart.unmapped == [0x1010, 0x1020]
    registered.release()
    assert cudart.calls.count("unregister") == 2 and cudart.calls.count("unmap") == 1


def test_a_failed_array_lookup_unmaps_before_raising(fake_cudart):
    from smplpix_rt.errors import SmplpixError
    from smplpix_rt.runtime.interop import RegisteredTextures

    cudart = fake_cudart(frozenset({"array"}))
    registered = RegisteredTextures([_FakeTexture(1)], [False])
    with pytest.raises(SmplpixError, match="cudaGraphicsSubResourceGetMappedArray failed"):
        registered.map(stream=7)
    assert cudart.calls[-1] == "unmap" and cudart.unmapped == [0x1010]
    registered.release()
    assert cudart.calls.count("unmap") == 1  # not mapped any more: release only unregisters


@pytest.mark.parametrize("failing", ["work", "instantiate"])
def test_a_failed_graph_capture_frees_the_captured_graph(fake_cudart, failing):
    from smplpix_rt.errors import SmplpixError
    from smplpix_rt.runtime.interop import CudaGraph

    cudart = fake_cudart(frozenset({failing}))

    def work() -> None:
        if failing == "work":
            raise SmplpixError("enqueue failed")

    with pytest.raises(SmplpixError):
        CudaGraph(7, work)
    assert "end_capture" in cudart.calls and cudart.calls[-1] == "graph_destroy"


class _FakeTrtContext:
    def __init__(self) -> None:
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name, shape) -> bool:
        return True

    def set_tensor_address(self, name, address) -> bool:
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream_handle) -> bool:
        return True


def test_device_pointers_make_the_tensorrt_host_path_rebind_its_buffers():
    import torch

    from smplpix_rt.runtime.device import TensorRTDeviceGenerator
    from smplpix_rt.runtime.trt_backend import TensorRTRuntime

    manifest = type("M", (), {"input_names": ("a", "b"), "output": "image", "inputs": (1, 2), "size_multiple": 8})()
    runtime = TensorRTRuntime.__new__(TensorRTRuntime)
    runtime.manifest, runtime._context, runtime._size = manifest, _FakeTrtContext(), (16, 16)
    runtime._dtypes = dict.fromkeys(("a", "b", "image"), torch.float32)
    generator = TensorRTDeviceGenerator(runtime)
    generator.infer_device([0x10, 0x20], 0x30, 0, (16, 16))
    assert runtime._context.addresses == {"a": 0x10, "b": 0x20, "image": 0x30}
    assert runtime._size is None  # TensorRTRuntime.infer reallocates and rebinds before its next run


# -- the pipeline's frame path ------------------------------------------------------------------------


def _pipeline_config(tmp_path, frame_path: str):
    sys.path.insert(0, str(ROOT / "scripts"))
    import gpu_check

    from smplpix_rt.pipeline import PipelineConfig

    model = gpu_check._random_model(tmp_path)
    return PipelineConfig(model=model, backend="torch", width=64, height=64, frame_path=frame_path)


@pytest.mark.gl
def test_pipeline_frame_path_is_decided_with_a_reason(tmp_path):
    from smplpix_rt.errors import InputError
    from smplpix_rt.pipeline import Pipeline

    config = _pipeline_config(tmp_path, "auto")
    with Pipeline.open(config) as pipeline:
        assert pipeline.frame_path in (FRAME_PATH_HOST, FRAME_PATH_INTEROP)
        assert pipeline.frame_path_reason
        assert pipeline.render(pipeline.body.default_params(), _camera(pipeline)).image.shape == (64, 64, 3)
    with pytest.raises(InputError, match="frame path must be one of"):
        Pipeline.open(_replace(config, frame_path="gpu"))


@pytest.mark.gpu
@pytest.mark.gl
def test_interop_pipeline_matches_the_host_pipeline(tmp_path):
    from smplpix_rt.pipeline import Pipeline

    config = _pipeline_config(tmp_path, "interop")
    config = _replace(config, width=128, height=96)
    images = {}
    for path in ("interop", "host"):
        with Pipeline.open(_replace(config, frame_path=path)) as pipeline:
            assert pipeline.frame_path == path
            params = pipeline.body.default_params()
            images[path] = pipeline.render(params, _camera(pipeline)).image
    assert images["interop"].shape == (96, 128, 3)
    diff = np.abs(images["interop"].astype(np.int16) - images["host"].astype(np.int16))
    # The same G-buffer bits go into the same generator on both paths; only uint8 rounding of
    # values that cuDNN computed in another order may differ.
    assert diff.max() <= 2, diff.max()


def _camera(pipeline):
    from smplpix_rt.camera import framing_orbit

    rest = pipeline.body.forward(pipeline.body.default_params())
    return framing_orbit(rest.vertices).camera(pipeline.width, pipeline.height)


def _replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)
