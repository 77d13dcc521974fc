"""TensorRT backend: every error path that does not need TensorRT, and the real thing where it exists."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError
from smplpix_rt.generator.export import export_onnx, quantize_int8
from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs, write_sidecar
from smplpix_rt.generator.networks import GeneratorGraph, build_network
from smplpix_rt.runtime import TensorRTRuntime, build_engine, load_runtime

PARAMS = {"in_channels": 8, "base_filters": 8, "depth": 3, "max_filters": 16}


@pytest.fixture(scope="module")
def graph() -> GeneratorGraph:
    torch.manual_seed(0)
    net = build_network("pixnet", **PARAMS).eval()
    manifest = Manifest(
        body_model="anny",
        body_model_version="0.6.2",
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture("pixnet", PARAMS),
        resolution=(64, 64),
        size_multiple=net.size_multiple,
    )
    return GeneratorGraph(net, manifest).eval()


@pytest.fixture
def engine(tmp_path, graph):
    """A file that looks like an engine to everything but TensorRT itself, with a valid sidecar."""
    path = tmp_path / "model.engine"
    path.write_bytes(b"not really an engine" * 10)
    write_sidecar(graph.manifest, path)
    return path


@pytest.fixture
def no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError


def test_missing_tensorrt_is_a_clear_error(no_tensorrt, engine, graph, tmp_path):
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed.*onnxruntime or torch backend"):
        TensorRTRuntime(engine)
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        load_runtime(engine)
    onnx_path = export_onnx(graph, graph.manifest, tmp_path / "model.onnx")
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        build_engine(onnx_path, tmp_path / "built.engine")
    assert not (tmp_path / "built.engine").exists()


def test_engine_without_sidecar_is_reported(no_tensorrt, tmp_path):
    path = tmp_path / "lonely.engine"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="lonely.engine.json is missing"):
        TensorRTRuntime(path)


def test_engine_runs_only_on_the_tensorrt_backend(engine):
    with pytest.raises(InputError, match="only the tensorrt backend runs it"):
        load_runtime(engine, backend="onnxruntime")
    with pytest.raises(InputError, match="TensorRT runs on CUDA devices only"):
        load_runtime(engine, device="cpu")


def _fake_tensorrt() -> types.ModuleType:
    """Just enough of the TensorRT 10 API for a runtime whose engine fails to deserialize."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.99-fake"

    class Logger:
        WARNING = 2

        def __init__(self, severity: int) -> None:
            self.severity = severity

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, data: bytes) -> None:
            return None  # what TensorRT returns for an engine of another GPU / version

    trt.Logger, trt.Runtime = Logger, Runtime
    return trt


def test_engine_for_another_gpu_or_version_asks_for_a_rebuild(monkeypatch, engine):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ModelFileError) as info:
        TensorRTRuntime(engine)
    message = str(info.value)
    assert "built for another GPU or TensorRT version" in message
    assert "smplpix export ... --engine" in message and "10.99-fake" in message


def test_tensorrt_without_cuda_is_a_clear_error(monkeypatch, engine):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendUnavailableError, match="TensorRT needs a CUDA GPU"):
        TensorRTRuntime(engine)


def test_int8_onnx_is_not_built_into_an_engine(no_tensorrt, graph, tmp_path):
    onnx_path = export_onnx(graph, graph.manifest, tmp_path / "model.onnx")
    rng = np.random.default_rng(0)
    calibration = [tuple(rng.random((64, 64, 4), dtype=np.float32) for _ in range(2))]
    int8 = quantize_int8(onnx_path, tmp_path / "model-int8.onnx", calibration)
    with pytest.raises(InputError, match="int8 .*build TensorRT engines from the fp32 or fp16 ONNX"):
        build_engine(int8, tmp_path / "model.engine")


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("fp16_onnx", [False, True])
def test_tensorrt_engine_matches_reference(graph, tmp_path, fp16_onnx):
    onnx_path = export_onnx(graph, graph.manifest, tmp_path / "model.onnx", fp16=fp16_onnx)
    engine_path = build_engine(onnx_path, tmp_path / "model.engine", fp16=True, timing_cache=tmp_path / "timing.cache")
    assert (tmp_path / "model.engine.json").is_file() and (tmp_path / "timing.cache").is_file()
    rng = np.random.default_rng(0)
    with load_runtime(engine_path) as runtime:
        assert runtime.describe().backend == "tensorrt"
        for size in [(64, 64), (96, 64)]:
            planes = tuple(rng.random((*size, 4), dtype=np.float32) for _ in range(2))
            with torch.inference_mode():
                expected = graph(*[torch.from_numpy(p)[None] for p in planes])[0]
            torch.testing.assert_close(torch.from_numpy(runtime.infer(planes)), expected, atol=1e-2, rtol=0)
